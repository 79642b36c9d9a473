@0xc2b5452abb6c74eb;

using Sy = import "/switchyard/annotations.capnp";
$import "/capnp/c++.capnp".namespace("sy::plugins");

struct GroupedTopKConfig $Sy.doc("DeepSeek-V3/V2 group-limited routing: score, keep topkGroup of nGroup expert groups, top-k") {
  k @0 :UInt32 = 2 $Sy.min(1) $Sy.max(1024)
      $Sy.doc("experts per token (DeepSeek-V3: num_experts_per_tok = 8)");
  nGroup @1 :UInt32 = 1 $Sy.min(1) $Sy.max(1024)
      $Sy.doc("expert groups; the expert count must divide by it (DeepSeek-V3: n_group = 8)");
  topkGroup @2 :UInt32 = 1 $Sy.min(1) $Sy.max(1024)
      $Sy.doc("groups kept per token, at most nGroup (DeepSeek-V3: topk_group = 4)");
  routedScalingFactor @3 :Float32 = 1.0 $Sy.min(0)
      $Sy.doc("multiplies every weight (DeepSeek-V3: routed_scaling_factor = 2.5)");
  renormalize @4 :Bool = true
      $Sy.doc("divide the k weights by their sum before scaling (norm_topk_prob)");
  scoring @5 :Scoring = sigmoid
      $Sy.doc("sigmoid: DeepSeek-V3 (groups by top-2 sum, bias); softmax: DeepSeek-V2 (groups by max)");
  maskedGroupFill @6 :MaskedGroupFill = zero
      $Sy.doc("selection score of experts in dropped groups: zero (transformers) or negInf (DeepSeek, vLLM)");

  enum Scoring $Sy.doc("how logits become scores") {
    sigmoid @0 $Sy.doc("DeepSeek-V3: sigmoid, correction bias for selection, group = sum of top-2");
    softmax @1 $Sy.doc("DeepSeek-V2: softmax, no correction bias, group = its max");
  }

  enum MaskedGroupFill $Sy.doc("what experts outside the kept groups compete with") {
    zero @0 $Sy.doc("0.0, as transformers: may beat a kept expert whose biased score is negative");
    negInf @1 $Sy.doc("-inf, as the DeepSeek reference and vLLM: never selected");
  }
}
