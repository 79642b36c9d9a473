@0x8080ef62994b1888;

using Sy = import "/switchyard/annotations.capnp";
$import "/capnp/c++.capnp".namespace("sy::plugins");

struct SoftmaxTopKConfig $Sy.doc("Mixtral/Qwen/OLMoE routing: softmax over experts, top-k") {
  k @0 :UInt32 = 2 $Sy.min(1) $Sy.max(1024) $Sy.doc("experts per token");
  renormalize @1 :Bool = true
      $Sy.doc("divide the k weights by their sum (Mixtral: always; Qwen/OLMoE: norm_topk_prob)");
}
