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

# One step of the serving engine: what ran, what waits, and the load on every expert.
struct StepReport {
  step @0 :UInt64;
  layers @1 :List(LayerLoad);
  sequences @2 :UInt32;       # sequences computed in the step
  prefillTokens @3 :UInt32;   # prompt (and recomputed) tokens computed
  decodeTokens @4 :UInt32;    # sequences that sampled a token
  running @5 :UInt32;         # requests holding KV blocks after the step
  waiting @6 :UInt32;         # requests queued after the step
  preempted @7 :UInt32;       # sequences preempted before the step
  finished @8 :UInt32;        # requests that ended in the step
  kvBlocksUsed @9 :UInt32;
  kvBlocksTotal @10 :UInt32;
  stepMicros @11 :Float64;    # scheduling, forward pass and sampling
}
