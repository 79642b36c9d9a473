# Configs of the plugins the loader and host tests load.
@0xe71bc802ca6e1715;

using Sy = import "/switchyard/annotations.capnp";
$import "/capnp/c++.capnp".namespace("sy::test");

struct FaultyConfig {
  behaviour @0 :Behaviour = ok $Sy.doc("how the component misbehaves");
  enum Behaviour {
    ok @0;
    createFails @1;
    routeThrows @2;
    outOfRangeId @3;
    nanWeight @4;
    zeroTopK @5;
    unknownException @6;
  }
}

struct EmptyConfig {}
