@0xd61315632007feff;

using Sy = import "/switchyard/annotations.capnp";
$import "/capnp/c++.capnp".namespace("sy::plugins");

struct ExpertChoiceConfig $Sy.doc("Expert Choice routing (Zhou et al. 2022): each expert picks its top-C tokens") {
  k @0 :UInt32 = 2 $Sy.min(1) $Sy.max(1024)
      $Sy.doc("slots per token, and the average experts per token that sizes the capacity");
  capacityFactor @1 :Float32 = 1.0 $Sy.min(0.001) $Sy.max(1024)
      $Sy.doc("tokens per expert C = ceil(capacityFactor * tokens * k / experts)");
}
