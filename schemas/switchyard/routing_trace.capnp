# A routing trace: what a router decided, per layer and step, recorded for replay (A/B tests
# on identical routing). A trace file is a sequence of Cap'n Proto messages: one TraceHeader,
# then one TraceRecord per layer per step.
@0xd34aa689bab30261;

$import "/capnp/c++.capnp".namespace("sy::schema");

struct TraceHeader {
  formatVersion @0 :UInt32;  # 1
  model @1 :Text;            # what produced it, e.g. a model name; shown in errors
  numExperts @2 :UInt32;
  topK @3 :UInt32;
}

struct TraceRecord {
  layer @0 :UInt32;
  tokens @1 :UInt32;
  expertIds @2 :List(Int32);       # tokens * topK, row-major; -1 = dropped
  expertWeights @3 :List(Float32); # tokens * topK
}
