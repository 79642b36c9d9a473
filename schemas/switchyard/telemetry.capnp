# What the MoE layer reports about each forward step: the load on every expert.
@0xf081aef1cde633fe;

$import "/capnp/c++.capnp".namespace("sy::schema");

# The routing load of one MoE layer in one step.
struct LayerLoad {
  layer @0 :UInt32;
  tokens @1 :UInt32;
  topK @2 :UInt32;
  tokensPerExpert @3 :List(UInt32);  # routing slots each expert received (after capacity)
  dropped @4 :UInt32;                # slots with no expert (-1): dropped by the router or the capacity limit
  rerouted @5 :UInt32;               # slots moved to another expert by the capacity limit
  maxOverMean @6 :Float64;           # the busiest expert's load over the mean load
  coefficientOfVariation @7 :Float64;
  jainIndex @8 :Float64;             # (sum x)^2 / (n sum x^2): 1 = perfectly even
  routerMicros @9 :Float64;
  expertsMicros @10 :Float64;
}

struct StepReport {
  step @0 :UInt64;
  layers @1 :List(LayerLoad);
}
