# A config schema that uses every feature the host's config builder supports.
@0x8aa584c1be08f233;

using Sy = import "/switchyard/annotations.capnp";
$import "/capnp/c++.capnp".namespace("sy::test");

struct TestConfig {
  count @0 :UInt32 = 4 $Sy.min(1) $Sy.max(64) $Sy.doc("how many");
  scale @1 :Float32 = 1.5 $Sy.min(0);
  name @2 :Text = "default";
  enabled @3 :Bool = false;
  mode @4 :Mode = fast;
  small @5 :Int8;
  weights @6 :List(Float32);
  inner @7 :Inner;
  limits :group {
    low @8 :Int32 = -1;
    high @9 :Int32 = 1;
  }
  policy :union {
    none @10 :Void;
    drop @11 :Float64;
    reroute @12 :UInt16;
  }
  stages @13 :List(Inner);
  maxTokens @14 :UInt32;

  enum Mode {
    fast @0;
    exact @1;
  }
}

struct Inner {
  label @0 :Text;
  level @1 :UInt8 = 3;
}
