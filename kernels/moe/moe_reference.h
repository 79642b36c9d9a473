// CPU references for the MoE kernels, written for clarity, not speed: the GPU tests compare
// each kernel with them. They round where the kernels round (act to bf16), so a kernel and
// its reference differ only by f32 summation order.
#ifndef SWITCHYARD_KERNELS_MOE_MOE_REFERENCE_H_
#define SWITCHYARD_KERNELS_MOE_MOE_REFERENCE_H_

#include <cstdint>
#include <vector>

#include "kernels/moe/moe_cuda.h"

namespace sy::kernels::reference {

float Bf16ToF32(uint16_t bits);
uint16_t F32ToBf16(float value);  // round to nearest even

// softmax -> top-k (ties to the lower id) -> optional renormalisation, per token.
void RouteTopk(const float* logits, int64_t tokens, int experts, int k, bool renormalize,
               int32_t* ids, float* weights);

// The slots (t * k + j) routed to each expert, in slot order; ids outside [0, E) are dropped.
std::vector<std::vector<int32_t>> SlotsByExpert(const int32_t* ids, int64_t slots, int experts);

// MoeWeightsView's activation and biases, on the host.
struct Activation {
  MoeActivation kind = MoeActivation::kSwiglu;
  float alpha = 1.702f;
  float limit = 7.0f;
  const float* gate_up_bias = nullptr;  // [E, 2I]
  const float* down_bias = nullptr;     // [E, H]
};

// act[i] = bf16(activation(gate_i . x + bias_i, up_i . x + bias_{I+i})) for one token: gate_up
// bf16 [2I, H]; bias: this expert's [2I] or nullptr.
void GateUpSwiglu(const uint16_t* x, const uint16_t* gate_up, int64_t hidden, int64_t inter,
                  float* act, const Activation& activation = {}, const float* bias = nullptr);
// y = down . act (+ bias [H]): down bf16 [H, I].
void Down(const float* act, const uint16_t* down, int64_t hidden, int64_t inter, float* y,
          const float* bias = nullptr);

// The layer: out[t] = sum_j weights[t, j] * down_e(act_e(x[t])), e = ids[t, j] (ids outside
// [0, E) skipped). x bf16 [T, H]; gate_up/down per expert; out f32 [T, H].
void MoeLayer(const MoeProblem& problem, const uint16_t* x, const int32_t* ids,
              const float* weights, const std::vector<const uint16_t*>& gate_up,
              const std::vector<const uint16_t*>& down, float* out,
              const Activation& activation = {});

// The same three on f32 weights: dequantized fp8 (DequantizeFp8Block128).
void GateUpSwiglu(const uint16_t* x, const float* gate_up, int64_t hidden, int64_t inter,
                  float* act, const Activation& activation = {}, const float* bias = nullptr);
void Down(const float* act, const float* down, int64_t hidden, int64_t inter, float* y,
          const float* bias = nullptr);
void MoeLayer(const MoeProblem& problem, const uint16_t* x, const int32_t* ids,
              const float* weights, const std::vector<const float*>& gate_up,
              const std::vector<const float*>& down, float* out, const Activation& activation = {});

// kFp8Block128 (moe_cuda.h) of an f32 [rows, cols] matrix as quantizer.fp8 writes it: per
// 128 x 128 block scale = amax / 448 (1 for an all-zero block), value = e4m3(w / scale).
struct Fp8Matrix {
  std::vector<uint8_t> values;  // [rows, cols]
  std::vector<float> scales;    // [ceil(rows / 128), ceil(cols / 128)]
};
Fp8Matrix QuantizeFp8Block128(const float* w, int64_t rows, int64_t cols);
// w = value * scale of its block, in f32.
std::vector<float> DequantizeFp8Block128(const Fp8Matrix& m, int64_t rows, int64_t cols);

// w8a8's activations (MoePlan::fp8_activations), quantized dynamically per row and 128 columns:
// scale = amax / 448 (1 where that is 0), value = e4m3(x / scale); scales [rows, ceil(cols /
// 128)]. What sm90_quantize_fp8_rows writes, byte for byte.
Fp8Matrix QuantizeFp8Rows128(const float* x, int64_t rows, int64_t cols);
std::vector<float> DequantizeFp8Rows128(const Fp8Matrix& m, int64_t rows, int64_t cols);

// gate_up + activation, and the layer, as w8a8 computes them: x (and in the layer act, after
// its bf16 rounding) go through QuantizeFp8Rows128 before each GEMM; f32 (dequantized) weights.
void GateUpSwigluW8A8(const uint16_t* x, const float* gate_up, int64_t hidden, int64_t inter,
                      float* act, const Activation& activation = {}, const float* bias = nullptr);
void MoeLayerW8A8(const MoeProblem& problem, const uint16_t* x, const int32_t* ids,
                  const float* weights, const std::vector<const float*>& gate_up,
                  const std::vector<const float*>& down, float* out,
                  const Activation& activation = {});

}  // namespace sy::kernels::reference

#endif  // SWITCHYARD_KERNELS_MOE_MOE_REFERENCE_H_
