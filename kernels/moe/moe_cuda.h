// The MoE layer on an NVIDIA GPU (sm_90), bf16 or fp8 block-scaled weights: the host-side
// interface of the kernels in this folder. Plain C++ (no CUDA headers), so plugins and the CLI
// include it with g++.
//
// One layer is four launches, all on one stream, graph-capturable (no host synchronisation,
// no allocation):
//   1. sm90_route_topk_align: softmax -> top-k -> renormalise per token (or pre-routed ids),
//      counts per expert, and -- in the last CTA to finish -- the expert-sorted slot list and
//      the block table the GEMMs walk.
//   2. grouped GEMM gate_up with SwiGLU in its epilogue -> act [slots, I] bf16.
//   3. grouped GEMM down; decode: router weight and the sum over k in the epilogue (f32
//      atomics into the zeroed output); prefill: weighted rows [slots, H] bf16 ...
//   4. ... and sm90_moe_combine sums each token's k rows (deterministic).
// Prefill with bf16 weights on the wgmma tile adds three short launches for its TMA copies: x's
// rows gathered into sorted order, and each GEMM's per-expert tensor maps.
// Decode (few tokens per expert) streams weights through a swap-AB, split-K mma.sync kernel;
// prefill uses warp-specialised wgmma tile kernels (bf16 activations: 128x256x64; fp8 weights,
// w8a8: 128x256x128 after quantizing the activations), or a cp.async multistage 128x128x64
// mma.sync tile kernel (other shapes). See docs/cuda-kernels.md.
#ifndef SWITCHYARD_KERNELS_MOE_MOE_CUDA_H_
#define SWITCHYARD_KERNELS_MOE_MOE_CUDA_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

namespace sy::kernels {

struct MoeProblem {
  int64_t tokens = 0;
  int32_t experts = 0;
  int32_t top_k = 0;
  int64_t hidden = 0;        // H
  int64_t intermediate = 0;  // I
};

// How the expert matrices are stored. Decode (and prefill without fp8 activations) dequantizes
// fp8 and int4 weights on the way into bf16 tensor-core MMAs (w8a16, w4a16): they cut the bytes
// streamed from HBM, not the math. Prefill with fp8 weights on sm_90's wgmma tiles runs w8a8 by
// default: activations are quantized per token and 128 channels (MoePlan::fp8_activations) and
// the tensor cores multiply e4m3 by e4m3, at twice bf16's rate.
//   kBf16          bf16 [rows, cols]
//   kFp8Block128   fp8 e4m3 [rows, cols] and f32 scales [ceil(rows/128), ceil(cols/128)],
//                  w = value * scale: DeepSeek-V3's `weight` and `weight_scale_inv`, and what
//                  quantizer.fp8 writes with granularity = block, block = 128. gate_up's grid is
//                  the one of the whole [2I, H] matrix (DeepSeek-V3's I = 2048 makes it the gate
//                  and up grids stacked).
//   kU4Group128    quantizer.int4's format (AWQ/GPTQ math, weight-only, w4a16): u4 values
//                  packed two per byte [rows, cols / 2] (element 2i in the low nibble), f32
//                  scales and u8 zero points [rows, cols / 128], w = (q - zero) * scale.
//                  Decode kernels only (PlanMoe keeps such layers on the decode path), and
//                  H % 128 == 0, I % 128 == 0.
enum class MoeWeightFormat : int32_t { kBf16, kFp8Block128, kU4Group128 };
inline constexpr int64_t kMoeFp8Block = 128;
inline constexpr int64_t kMoeU4Group = 128;

enum class MoePath { kDecode, kPrefill };

// How a problem runs, and the scratch it needs. Computed on the host from the shape (and the
// weights' format) only.
struct MoePlan {
  MoePath path = MoePath::kDecode;
  int32_t token_tiles = 1;  // decode: tiles of 8 tokens a CTA keeps in registers (1, 2, 4, 8)
  // decode: groups of 32 weight rows a CTA owns (1, 2, 4, 8), per GEMM; its warps split K
  // 8 / R ways.
  int32_t gate_up_row_groups = 1;
  int32_t down_row_groups = 1;
  int32_t block_m = 8;  // slots per block of the block table
  // bf16 prefill on the wgmma kernel with blocks of 128 forced: blocks of at most 64 slots (an
  // expert's only block, or its leftover block after full ones) run the 64-slot tile. (Blocks of
  // 256, the default, fit their tiles to each block anyway.)
  bool prefill_half_tiles = false;
  // prefill: expert blocks whose CTAs sweep every output tile together (the raster), 1-8.
  int32_t prefill_raster_group = 8;
  int64_t max_blocks = 0;  // bound on the blocks any routing can produce
  size_t workspace_bytes = 0;
  bool programmatic_launch = true;  // PDL: each kernel's prologue overlaps its predecessor
  // Prefill with fp8 weights on the wgmma tile and MoePlanOptions::fp8_activations: activations
  // are quantized to fp8 too (w8a8), and the workspace holds them.
  bool fp8_activations = false;
};

// Choices PlanMoe would otherwise make from the shape (tests and benchmarks force them).
struct MoePlanOptions {
  std::optional<MoePath> path;  // prefill falls back to decode where its tiles do not fit
  int32_t token_tiles = 0;      // decode: 1, 2, 4 or 8; 0 = from tokens per expert
  bool programmatic_launch = true;
  // The experts' weights: where prefill starts pays off differs by format, and kU4Group128
  // weights only the decode kernels read.
  MoeWeightFormat format = MoeWeightFormat::kBf16;
  // fp8 weights at prefill: quantize the activations too (w8a8, MoePlan::fp8_activations) where
  // the wgmma tile fits, as a DeepSeek-V3 checkpoint's dynamic activation scheme says; false
  // keeps them bf16 (w8a16, weight-only quantization).
  bool fp8_activations = true;
  // Prefill blocks: 0 = the kernel's own (bf16 on the wgmma kernel: 256 slots, each CTA fitting
  // its tile to its block; the other kernels: 128); bf16 on the wgmma kernel can be forced to
  // blocks of 128 or 64 (the 128 x 256 and 64 x 256 tiles).
  int32_t prefill_block_m = 0;
  // Blocks of 128 forced (bf16 on the wgmma tile): whether blocks of at most 64 slots run the
  // 64-slot tile; nullopt = where experts average under 128 slots. Blocks of 64 always run it.
  std::optional<bool> prefill_half_tiles = std::nullopt;
  // decode: row groups of gate_up's and down's CTAs, 1, 2, 4 or 8; 0 = from the GEMM's K.
  int32_t gate_up_row_groups = 0;
  int32_t down_row_groups = 0;
  // prefill: the raster's groups of expert blocks, 1, 2, 4 or 8; 0 (or any other value) = from
  // blocks per expert.
  int32_t prefill_raster_group = 0;
};

// "" when the kernels can run the problem, else why not.
std::string CheckMoeProblem(const MoeProblem& problem);

// The counts token tiles, row groups and raster groups take: 1, 2, 4 or 8.
inline constexpr bool IsPow2UpTo8(int32_t n) { return n == 1 || n == 2 || n == 4 || n == 8; }
// Decode row groups a CTA of `token_tiles` can hold in shared memory.
inline constexpr int32_t MaxDecodeRowGroups(int32_t token_tiles) {
  return token_tiles <= 2 ? 8 : 1;
}
// "" when decode CTAs of `row_groups` groups of 32 rows tile the GEMM's rows (gate_up:
// I % (16 R), down: H % (32 R)) and fit `token_tiles`, else why not.
std::string CheckDecodeRowGroups(bool gate_up, const MoeProblem& problem, int32_t token_tiles,
                                 int32_t row_groups);
// The plan for `problem`. Call CheckMoeProblem first.
MoePlan PlanMoe(const MoeProblem& problem, const MoePlanOptions& options = {});

// The experts' activation of (gate, up), after their biases:
//   kSwiglu         silu(gate) * up
//   kClampedSwiglu  gpt-oss: g = min(gate, limit), u = clamp(up, -limit, limit),
//                   (u + 1) * g * sigmoid(alpha * g)
enum class MoeActivation : int32_t { kSwiglu, kClampedSwiglu };

// Bytes of one [rows, cols] matrix's values, and its f32 scales (0 for bf16; int4: as many u8
// zero points).
int64_t MoeMatrixBytes(MoeWeightFormat format, int64_t rows, int64_t cols);
int64_t MoeScaleCount(MoeWeightFormat format, int64_t rows, int64_t cols);

// Device pointers of one layer's weights: arrays (in device memory) of `experts` pointers to
// matrices gate_up [2I, H] (gate rows, then up rows) and down [H, I], row-major, stored as
// `format` says (fp8: plus arrays of pointers to each matrix's scales); optional f32 biases
// (gpt-oss): gate_up's before the activation, down's with the router weight (a fifth launch,
// LaunchAddDownBias). New fields go last, so `{gate_up, down}` still means bf16 weights.
struct MoeWeightsView {
  const void* const* gate_up = nullptr;
  const void* const* down = nullptr;
  const float* gate_up_bias = nullptr;  // [E, 2I]: each expert's gate biases, then its up biases
  const float* down_bias = nullptr;     // [E, H]
  MoeActivation activation = MoeActivation::kSwiglu;
  float swiglu_alpha = 1.702f;
  float swiglu_limit = 7.0f;
  MoeWeightFormat format = MoeWeightFormat::kBf16;
  // Per expert: kFp8Block128 gate_up [ceil(2I/128), ceil(H/128)], down [ceil(H/128),
  // ceil(I/128)]; kU4Group128 gate_up [2I, H/128], down [H, I/128], and as many zero points.
  const float* const* gate_up_scales = nullptr;
  const float* const* down_scales = nullptr;
  const uint8_t* const* gate_up_zeros = nullptr;
  const uint8_t* const* down_zeros = nullptr;
};

// Where routing comes from: router logits (f32 [T, E], softmax top-k in the first kernel), or
// ids/weights a router already wrote (i32/f32 [T, k]; ids outside [0, E) count as dropped).
struct MoeRouting {
  const float* logits = nullptr;
  bool renormalize = true;
  const int32_t* ids = nullptr;
  const float* weights = nullptr;
};

struct MoeLayerArgs {
  const void* x = nullptr;  // bf16 [T, H]
  MoeRouting routing;
  MoeWeightsView weights;
  float* out = nullptr;     // f32 [T, H]
  bool accumulate = false;  // add into `out` instead of overwriting it
  // plan.workspace_bytes of device memory. Its first MoeWorkspaceStateBytes() bytes must be
  // zero before the first launch (InitMoeWorkspace); every launch leaves them zero again, so
  // one workspace (of the largest plan's size) serves problems of any shape in turn.
  void* workspace = nullptr;
  int32_t* expert_counts = nullptr;  // optional i32 [E]: tokens each expert got (telemetry)
};

inline constexpr int32_t kMaxMoeExperts = 1024;
size_t MoeWorkspaceStateBytes();
// Zeroes the state of a fresh workspace (asynchronously, on `stream`).
std::string InitMoeWorkspace(void* workspace, void* stream);

// Launches the whole layer on `stream` (a cudaStream_t; nullptr = the legacy default stream).
// Returns "" or the CUDA error of the first launch that failed.
std::string LaunchMoeLayer(const MoeProblem& problem, const MoePlan& plan, const MoeLayerArgs& args,
                           void* stream);

// ---- Pieces, for tests and for callers that fuse differently ---------------------------------

// Views into a workspace laid out for (problem, plan).
struct BlockInfo {
  int32_t expert, begin, end, unused;  // sorted positions [begin, end) of one expert
};
struct MoeWorkspaceView {
  int32_t* counts;        // [E], zero between launches
  uint32_t* done;         // [1], zero between launches
  int32_t* topk_ids;      // [T * k], -1 = dropped
  float* topk_weights;    // [T * k]
  int32_t* sorted_slots;  // [T * k]: slots (t * k + j) grouped by expert
  int32_t* num_blocks;    // [1]
  BlockInfo* blocks;      // [max_blocks]
  uint16_t* act;          // bf16 [T * k, I], rows in sorted order
  uint16_t* rows_out;     // bf16 [T * k, H] (prefill), rows by slot; until down runs, gate_up's
                          // A: x's rows in sorted order (bf16, or w8a8's W8a8Operand)
  // plan.fp8_activations (else nullptr): x quantized in token order (W8a8TokenRowsOf), then
  // down's w8a8 A (W8a8OperandOf: act quantized). Laid out before rows_out.
  uint8_t* a_fp8;
  float* a_scales;
  // Prefill: TMA tensor maps of each expert's matrices (128 bytes each; [E] gate_up's, then [E]
  // down's), written before each bf16 wgmma GEMM (sm90_tensor_maps.cuh).
  void* weight_maps;
};
MoeWorkspaceView LayoutMoeWorkspace(const MoeProblem& problem, const MoePlan& plan,
                                    void* workspace);

// Activations quantized for w8a8 (per row and 128 columns): e4m3 `rows` [n, K] and f32 `scales`
// [K / 128, scales_ld], so one k block's scales of consecutive rows are adjacent (one TMA box a
// tile).
struct W8a8Operand {
  uint8_t* rows;
  float* scales;
  int64_t scales_ld;  // n rounded up to 4 (TMA wants 16-byte row strides)
};
// A w8a8 GEMM's A, a row per sorted position (n = T * k). gate_up's (x's rows gathered from
// W8a8TokenRowsOf) sits in rows_out, which is free until down writes it; down's (act) in
// a_fp8 / a_scales.
W8a8Operand W8a8OperandOf(bool gate_up, const MoeProblem& problem, const MoeWorkspaceView& ws);
// x quantized in token order (n = T), in a_fp8 / a_scales until gate_up's A is gathered from it.
W8a8Operand W8a8TokenRowsOf(const MoeProblem& problem, const MoeWorkspaceView& ws);

// Kernel 1. `zero_out` (f32, `zero_elems`) is cleared on the way (the decode down GEMM adds
// into it); nullptr to skip.
std::string LaunchRouteAlign(const MoeProblem& problem, const MoePlan& plan,
                             const MoeRouting& routing, const MoeWorkspaceView& ws,
                             int32_t* expert_counts, float* zero_out, void* stream);
// Kernel 2: ws.act = SwiGLU(x . gate_up^T) for every block.
std::string LaunchGateUp(const MoeProblem& problem, const MoePlan& plan, const void* x,
                         const MoeWeightsView& weights, const MoeWorkspaceView& ws, void* stream);
// Kernel 3: decode adds w * (act . down^T) into `out`; prefill writes ws.rows_out.
std::string LaunchDown(const MoeProblem& problem, const MoePlan& plan,
                       const MoeWeightsView& weights, const MoeWorkspaceView& ws, float* out,
                       void* stream);
// Kernel 4 (prefill): out[t] (+)= sum_j rows_out[t * k + j] over kept slots.
std::string LaunchCombine(const MoeProblem& problem, const MoePlan& plan,
                          const MoeWorkspaceView& ws, float* out, bool accumulate, void* stream);

// DeepSeek-V3's group-limited routing (router.grouped_topk with scoring = sigmoid and
// maskedGroupFill = negInf) on the device, writing ids/weights for MoeRouting:
//   s = sigmoid(logits);  s' = s + correction_bias (selection only)
//   group score = sum of the two best s' of each of n_group groups; keep the topk_group best
//   ids = the top_k best s' among the kept groups' experts (descending; ties to the lower id)
//   weights = s at ids, / (sum + 1e-20) if renormalize, times routed_scaling_factor
struct GroupedTopKArgs {
  const float* logits = nullptr;           // f32 [tokens, experts]
  const float* correction_bias = nullptr;  // f32 [experts], or nullptr
  int64_t tokens = 0;
  int32_t experts = 0;  // <= 512
  int32_t top_k = 0;    // <= 32
  int32_t n_group = 1;  // <= 32, divides experts
  int32_t topk_group = 1;
  bool renormalize = true;
  float routed_scaling_factor = 1.0f;
  int32_t* ids = nullptr;  // i32 [tokens, top_k]
  float* weights = nullptr;
};
std::string CheckGroupedTopK(const GroupedTopKArgs& args);
std::string LaunchGroupedTopK(const GroupedTopKArgs& args, void* stream);

// After kernel 3 (decode) or 4 (prefill), for experts with down biases:
// out[t] += sum_j topk_weights[t, j] * down_bias[topk_ids[t, j]] over kept slots.
std::string LaunchAddDownBias(const MoeProblem& problem, const MoeWorkspaceView& ws,
                              const float* down_bias, float* out, void* stream);

// ---- Expert parallelism (core/model's GPU path under launch) ---------------------------------

// out u8 [rows, payload_bytes + tail_bytes]: row j is payloads[row_token[j]] (payload_bytes
// each: a token's bf16 MoE input, or its fp8 encoding) followed by tails[j] (tail_bytes each:
// the receiving rank's k local slot ids and k routing weights). Both whole 4-byte words.
std::string LaunchPackDispatchRows(const void* payloads, int64_t payload_bytes,
                                   const int32_t* row_token, const uint8_t* tails,
                                   int64_t tail_bytes, int64_t rows, uint8_t* out, void* stream);
// --dispatch-dtype fp8 on the GPU: a row's payload is e4m3 [hidden] then one f32 scale per 128
// values (amax / 448, 1 where 0), exactly as core/moe/expert_parallel.h encodes it on the host
// (which the GPU's bytes match bit for bit). hidden a multiple of 8; pitches whole words.
inline int64_t DispatchFp8PayloadBytes(int64_t hidden) {
  return hidden + 4 * ((hidden + 127) / 128);
}
// bf16 x [rows, hidden] -> payload rows at out + r * out_pitch.
std::string LaunchEncodeDispatchFp8(const uint16_t* x, int64_t rows, int64_t hidden, uint8_t* out,
                                    int64_t out_pitch, void* stream);
// Payload rows at in + r * in_pitch -> bf16 x [rows, hidden] (the f32 value fp8 * scale, rounded
// to nearest even). With ids ([rows, top_k] local slot ids), a row whose ids are all -1 is
// skipped (it came for another rank; the MoE kernels never read it).
std::string LaunchDecodeDispatchFp8(const uint8_t* in, int64_t in_pitch, int64_t rows,
                                    int64_t hidden, const int32_t* ids, int32_t top_k, uint16_t* x,
                                    void* stream);
// out[t] += sum of rows[token_rows[i]] (f32 [., hidden]) for i in [token_begin[t],
// token_begin[t + 1]), added in that order (deterministic).
std::string LaunchAddTokenRows(const float* rows, int64_t hidden, const int32_t* token_begin,
                               const int32_t* token_rows, int64_t tokens, float* out, void* stream);

// ---- Helpers on the device -------------------------------------------------------------------

// bf16 copy of f32 `in` (n elements).
std::string LaunchF32ToBF16(const float* in, uint16_t* out, int64_t n, void* stream);
// Shared-expert routing: ids = 0, weights = sigmoid(x . gate) (or 1 when gate is nullptr),
// from f32 hidden [T, H] and f32 gate [H].
std::string LaunchSharedRouting(const float* hidden, const float* gate, int64_t tokens,
                                int64_t hidden_size, int32_t* ids, float* weights, void* stream);
// Fills bf16 `out` (n elements) with uniform values in [-scale, scale) from (seed, index):
// element i gets index first + i's value, so a slice of a larger fill can be drawn alone.
std::string LaunchFillUniformBF16(uint16_t* out, int64_t n, float scale, uint64_t seed,
                                  void* stream, int64_t first = 0);
// Same, f32.
std::string LaunchFillUniformF32(float* out, int64_t n, float scale, uint64_t seed, void* stream);
// Fills `out` (n bytes) with uniform random bytes & mask (int4 values 0xff, zero points 0x0f).
std::string LaunchFillRandomBytes(uint8_t* out, int64_t n, uint8_t mask, uint64_t seed,
                                  void* stream);
// Fills fp8 e4m3 `out` (n bytes) with values uniform in [-448, 448] (rounded to e4m3).
std::string LaunchFillUniformFp8E4M3(uint8_t* out, int64_t n, uint64_t seed, void* stream);

}  // namespace sy::kernels

#endif  // SWITCHYARD_KERNELS_MOE_MOE_CUDA_H_
