# The config schema of router.round_robin. The host reads the field types, defaults and the
# $Sy annotations from the schema nodes the plugin exports: it fills defaults, checks the
# bounds before create() runs, and `switchyard plugins --describe router.round_robin` prints
# the docs.
#
# Give your copy a fresh file id (`capnp id`) and your own C++ namespace.
@0xf54a7a2dd2876146;

using Sy = import "/switchyard/annotations.capnp";
$import "/capnp/c++.capnp".namespace("example");

struct RoundRobinConfig $Sy.doc("a fixed rotation over the experts, independent of the logits") {
  k @0 :UInt32 = 2 $Sy.min(1) $Sy.max(1024) $Sy.doc("experts per token");
  offset @1 :UInt32 = 0 $Sy.doc("added to every expert index (mod the number of experts)");
}
