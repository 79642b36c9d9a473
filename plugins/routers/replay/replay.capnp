@0xfa58dbf412970f69;

using Sy = import "/switchyard/annotations.capnp";
$import "/capnp/c++.capnp".namespace("sy::plugins");

struct ReplayConfig $Sy.doc("replays routing recorded in a trace file, for A/B tests on identical routing") {
  path @0 :Text $Sy.doc("the trace file (sy.trace_writer / a layer's trace option writes it)");
  layer @1 :UInt32 = 0 $Sy.doc("which layer's records to replay");
}
