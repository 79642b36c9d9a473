@0xb27bbdb3922fa1bd;

using Sy = import "/switchyard/annotations.capnp";
$import "/capnp/c++.capnp".namespace("sy::plugins");

struct Int8Config $Sy.doc("symmetric int8 weights with one f32 scale per row (output channel)") {
  activations @0 :Activations = weightOnly
      $Sy.doc("weightOnly: f32 activations (w8a16); perToken: int8 with one scale per token (w8a8)");

  enum Activations {
    weightOnly @0;
    perToken @1;
  }
}
