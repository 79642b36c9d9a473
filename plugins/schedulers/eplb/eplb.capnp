@0xa8fe07748f4b8ef8;

using Sy = import "/switchyard/annotations.capnp";
$import "/capnp/c++.capnp".namespace("sy::plugins");

struct EplbConfig $Sy.doc("Expert-parallel load balancer (DeepSeek EPLB): replicates busy experts into the redundant slots and packs replicas onto ranks from a sliding window of per-expert loads") {
  policy @0 :Policy = auto $Sy.doc("hierarchical keeps expert groups within a node; global ignores groups; auto: hierarchical when the groups divide the experts and the nodes, else global");
  numGroups @1 :UInt32 = 0 $Sy.max(65536) $Sy.doc("expert groups for the hierarchical policy (DeepSeek-V3: n_group); 0 = one group per node");
  windowSteps @2 :UInt32 = 1000 $Sy.min(1) $Sy.max(1000000) $Sy.doc("engine steps of per-expert load the balancer looks at");
  intervalSteps @3 :UInt32 = 3000 $Sy.min(1) $Sy.max(100000000) $Sy.doc("rebalance every N steps");
  minImbalanceGain @4 :Float64 = 0.05 $Sy.min(0) $Sy.max(1) $Sy.doc("move a layer's experts only when it cuts the layer's max/mean rank load over the window by at least this fraction");

  enum Policy {
    auto @0;
    hierarchical @1;
    global @2;
  }
}
