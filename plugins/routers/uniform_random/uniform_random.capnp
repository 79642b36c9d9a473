@0xa2ac1cd6822803de;

using Sy = import "/switchyard/annotations.capnp";
$import "/capnp/c++.capnp".namespace("sy::plugins");

struct UniformRandomConfig $Sy.doc("Synthetic load: k distinct experts per token, uniformly at random, seeded") {
  k @0 :UInt32 = 2 $Sy.min(1) $Sy.max(1024) $Sy.doc("experts per token");
  seed @1 :UInt64 = 0
      $Sy.doc("with the token's position and logits, fixes the draw: same input, same routing");
  weights @2 :Weights = uniform $Sy.doc("how the k chosen experts are weighted");

  enum Weights $Sy.doc("weights of the chosen experts") {
    uniform @0 $Sy.doc("1/k each");
    softmax @1 $Sy.doc("softmax probabilities of the chosen experts, renormalised to sum to 1");
  }
}
