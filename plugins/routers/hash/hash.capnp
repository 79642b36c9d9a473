@0xcfe7f862f1f6c6ec;

using Sy = import "/switchyard/annotations.capnp";
$import "/capnp/c++.capnp".namespace("sy::plugins");

struct HashConfig $Sy.doc("Hash-layer routing: k distinct experts chosen by hashing the token id") {
  k @0 :UInt32 = 1 $Sy.min(1) $Sy.max(1024) $Sy.doc("experts per token, each weighted 1/k");
  seed @1 :UInt64 = 0 $Sy.doc("changes the token-to-expert assignment; same seed, same routing");
}
