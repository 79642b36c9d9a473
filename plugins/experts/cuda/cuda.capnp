@0x95350081bd1943aa;

using Sy = import "/switchyard/annotations.capnp";
$import "/capnp/c++.capnp".namespace("sy::plugins");

struct CudaExpertsConfig $Sy.doc("MoE experts on an NVIDIA GPU (sm_90): bf16 or fp8 block-128 weights, tensor-core grouped GEMMs") {
  tokenTiles @0 :UInt32 = 0 $Sy.max(8)
      $Sy.doc("decode: tiles of 8 tokens per expert block (1, 2, 4, 8; 0: from the batch)");
  programmaticLaunch @1 :Bool = true
      $Sy.doc("let each kernel start while the previous one finishes (PDL)");
  cacheExperts @2 :UInt32 = 0 $Sy.max(1024)
      $Sy.doc("weights in host memory: keep this many of a layer's experts on the GPU, evicting the coldest by observed load, with prefetch of the next layer's predicted experts (0: copy every expert each forward)");
}
