#include "core/model/cuda_network.h"

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdlib>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/base/log.h"
#include "core/base/status.h"
#include "core/model/cuda_expert_parallel.h"
#include "core/model/cuda_network_weights.h"
#include "core/model/device_arena.h"
#include "core/model/mla_block.h"
#include "core/model/moe_model.h"
#include "kernels/dense/dense_cuda.h"
#include "kernels/moe/moe_cuda.h"

namespace sy {
namespace {

absl::Status CudaCheck(cudaError_t err, const char* what) {
  if (err == cudaSuccess) return absl::OkStatus();
  cudaGetLastError();
  return absl::InternalError(absl::StrCat(what, ": ", cudaGetErrorString(err)));
}

absl::Status KernelCheck(const std::string& err) {
  if (err.empty()) return absl::OkStatus();
  return absl::InternalError(err);
}

absl::Status BlasCheck(cublasStatus_t status, const char* what) {
  if (status == CUBLAS_STATUS_SUCCESS) return absl::OkStatus();
  return absl::InternalError(absl::StrCat(what, ": cuBLAS status ", static_cast<int>(status)));
}

// out f32 [rows, n] = x bf16 [rows, k] . w bf16 [n, k]^T + beta * out. Row-major out is the
// column-major [n, rows] matrix w . x^T, so cuBLAS sees (op T on w) times (op N on x).
absl::Status Gemm(cublasHandle_t blas, const void* x, int64_t rows, int64_t k, const Tensor& w,
                  float* out, float beta) {
  if (rows == 0) return absl::OkStatus();
  const int64_t n = w.dim(0);
  const float alpha = 1.0f;
  return BlasCheck(
      cublasGemmEx(blas, CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(n), static_cast<int>(rows),
                   static_cast<int>(k), &alpha, w.raw_data(), CUDA_R_16BF, static_cast<int>(k), x,
                   CUDA_R_16BF, static_cast<int>(k), &beta, out, CUDA_R_32F, static_cast<int>(n),
                   CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
      "GEMM");
}

// Router logits f32 [rows, n] = x f32 [rows, k] . w f32 [n * k]^T, strict f32 (no TF32): the
// logits choose experts, and rounding them would flip near ties that the CPU model and
// transformers (f32) resolve the other way.
absl::Status GemmF32(cublasHandle_t blas, const float* x, int64_t rows, int64_t k, const Tensor& w,
                     float* out) {
  if (rows == 0) return absl::OkStatus();
  const int64_t n = w.numel() / k;
  const float alpha = 1.0f, beta = 0.0f;
  return BlasCheck(
      cublasGemmEx(blas, CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(n), static_cast<int>(rows),
                   static_cast<int>(k), &alpha, w.raw_data(), CUDA_R_32F, static_cast<int>(k), x,
                   CUDA_R_32F, static_cast<int>(k), &beta, out, CUDA_R_32F, static_cast<int>(n),
                   CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
      "router GEMM");
}

// One GEMM per attention head (cuBLAS's strided batch), column-major as cuBLAS sees it:
// C_h [m, n] = op(A_h) [m, k] . B_h [k, n], bf16 A and B, f32 accumulation, C in `c_type`.
struct HeadGemm {
  cublasOperation_t op_a;
  int64_t m, n, k;
  const void* a;
  int64_t lda, stride_a;
  const void* b;
  int64_t ldb, stride_b;
  void* c;
  cudaDataType_t c_type;
  int64_t ldc, stride_c;
  int64_t heads;
};

absl::Status GemmPerHead(cublasHandle_t blas, const HeadGemm& g) {
  if (g.n == 0) return absl::OkStatus();
  const float alpha = 1.0f, beta = 0.0f;
  return BlasCheck(cublasGemmStridedBatchedEx(
                       blas, g.op_a, CUBLAS_OP_N, static_cast<int>(g.m), static_cast<int>(g.n),
                       static_cast<int>(g.k), &alpha, g.a, CUDA_R_16BF, static_cast<int>(g.lda),
                       g.stride_a, g.b, CUDA_R_16BF, static_cast<int>(g.ldb), g.stride_b, &beta,
                       g.c, g.c_type, static_cast<int>(g.ldc), g.stride_c,
                       static_cast<int>(g.heads), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
                   "per-head GEMM");
}

// What the host computes for a step: ids, positions, the cache slot of each new token, the
// block tables and the rows whose logits are wanted.
struct StepPlan {
  int64_t tokens = 0, rows_out = 0;
  int32_t max_blocks = 1;
  std::vector<int32_t> ids, positions, row_sequence, slots, out_rows, tables;
};

}  // namespace

struct CudaNetwork::Impl {
  ModelConfig config;
  Device device;
  CudaWeights weights;
  cublasHandle_t blas = nullptr;
  Tensor inv_freq;  // f32 [rotary_dim / 2] on the device
  float rope_factor = 1.0f;
  int64_t rotary_dim = 0;
  bool rope_interleaved = false;  // DeepSeek-V3; the GQA architectures use rotate_half
  Arena activations, metadata, moe_workspace;
  // The draws of device sampling (rows, histories, ids): staged on the host, copied over in one
  // transfer; the ids come back the same way.
  Arena draws_host{MemoryKind::kPinnedHost}, draws_device;
  bool device_sampling = true;
  uint64_t moe_initialized = 0;            // the generation of moe_workspace whose state is zeroed
  std::shared_ptr<Buffer> blas_workspace;  // cuBLAS's, set once: capture must not allocate
  // Under expert parallelism (CudaNetworkOptions::expert_parallel): the exchange, and each
  // layer's index among the MoE layers (-1 for a dense one), which the placement counts in.
  std::optional<CudaExpertParallel> expert_parallel;
  std::vector<int32_t> moe_index;

  // Activations of a step of T tokens (all f32 unless named).
  struct Buffers {
    float* hidden;      // [T, H] the residual stream
    uint16_t* normed;   // bf16 [T, H]
    float* qkv;         // [T, (heads + 2 kv) * head_dim]; MLA: q [T, heads * qk_head_dim]
    uint16_t* attn;     // bf16 [T, heads * head_dim (MLA: v_head_dim)]
    float* router;      // [T, E]
    int32_t* topk_ids;  // [T, k] grouped top-k routing
    float* topk_weights;
    float* normed_f32;  // [T, H] the MLP's normed input in f32 (routers, the shared gate)
    int32_t* one_ids;   // [T] single-expert routing
    float* one_weights;
    // MLA only (empty otherwise).
    float* q_lora;               // [T, q_lora_rank]
    uint16_t* q_lora_normed;     // bf16 [T, q_lora_rank]
    float* latent;               // [T, rank + rope]: what the cache gets
    uint16_t* q_bf16;            // bf16 [T, heads * qk_head_dim]
    float* q_absorbed;           // [T, heads, rank + rope]
    uint16_t* attn_latent;       // bf16 [T, heads, rank]
    float* attention_workspace;  // Mla- or PagedAttentionWorkspaceBytes: the split keys' states
    float* rows;                 // [R, H]
    uint16_t* rows_normed;       // bf16 [R, H]
    float* logits;               // [R, vocab]
    void* moe = nullptr;         // the MoE kernels' workspace, sized for T by MoeWorkspace
  };

  // Decode steps (one token per sequence) replay a CUDA graph of the whole step, captured the
  // second time a shape is seen (the first runs eagerly and warms cuBLAS up). A shape is the
  // token count, the padded block-table width, the cache (PagedKvCache::id) it writes into and,
  // under expert parallelism (direct steps only), every rank's tokens, which lay out the rows.
  using GraphKey = std::tuple<int64_t, int32_t, uint64_t, std::vector<int64_t>>;
  struct DecodeGraph {
    cudaGraphExec_t exec = nullptr;
    std::shared_ptr<Buffer> meta_device;  // what the captured copy writes ...
    Tensor meta_host;                     // ... from this pinned buffer, refilled each replay
    uint64_t memory_generation = 0;       // MemoryGeneration() when captured
  };
  // Changes whenever scratch memory a step's kernels address moves.
  uint64_t MemoryGeneration() const;
  // Pinned host buffers the logits come back in. One is reused once its caller has let go of
  // the tensor it lent out (use_count 1): a fresh pageable tensor per step cost more than the
  // whole batch-256 decode step at DeepSeek-V3's 129K vocabulary (132 MB, page-faulted in and
  // copied through a staging buffer).
  std::vector<std::shared_ptr<Buffer>> logits_buffers;
  static constexpr size_t kMaxLogitsBuffers = 4;
  absl::StatusOr<Tensor> LogitsTensor(int64_t rows);

  bool graphs_enabled = true;
  std::map<GraphKey, DecodeGraph> graphs;
  std::set<GraphKey> seen;
  static constexpr size_t kMaxGraphs = 64;

  ~Impl();
  void DropGraphs();
  // A step in two halves: plan it and queue its launches (a graph replay or eager), which leave
  // the wanted rows' logits on the device; then wait for it and commit its tokens to the cache.
  struct Enqueued {
    const float* logits;  // [rows, vocab], device
    int64_t rows;
  };
  absl::StatusOr<Enqueued> Enqueue(ExecContext& ctx, std::span<const SequenceChunk> batch,
                                   PagedKvCache& cache);
  absl::Status Finish(void* stream, std::span<const SequenceChunk> batch, PagedKvCache& cache);
  // Queues the sampling kernel over `logits` for `draws` and the copy of its ids to pinned host
  // memory, which hold them once the stream has reached that point.
  absl::StatusOr<const int32_t*> EnqueueDraws(const float* logits,
                                              std::span<const SequenceChunk> batch,
                                              std::span<const DeviceDraw> draws, void* stream);
  absl::Status EnqueueStep(ExecContext& ctx, const StepPlan& plan, const int32_t* meta,
                           const Buffers& b, PagedKvCache& cache);
  absl::StatusOr<DecodeGraph> Capture(ExecContext& ctx, const StepPlan& plan,
                                      const std::vector<int32_t>& meta, const Buffers& b,
                                      PagedKvCache& cache);

  int64_t qkv_width() const {
    return (config.num_attention_heads + 2 * config.num_key_value_heads) * config.head_dim;
  }
  kernels::MlaAttentionArgs MlaShape(int64_t tokens, int32_t max_blocks, int32_t block_size) const;
  kernels::PagedAttentionArgs GqaShape(int64_t tokens, int32_t max_blocks,
                                       int32_t block_size) const;
  absl::StatusOr<Buffers> Activations(int64_t tokens, int64_t rows_out, int32_t max_blocks,
                                      int32_t block_size);
  absl::StatusOr<void*> MoeWorkspace(int64_t tokens, void* stream);
  absl::Status RunLayer(ExecContext& ctx, int64_t index, const Buffers& b, int64_t tokens,
                        const int32_t* meta, const StepPlan& plan, PagedKvCache& cache);
  absl::Status RunGqaAttention(int64_t index, const Buffers& b, int64_t tokens, const int32_t* meta,
                               const StepPlan& plan, PagedKvCache& cache, void* stream);
  absl::Status RunMlaAttention(int64_t index, const Buffers& b, int64_t tokens, const int32_t* meta,
                               const StepPlan& plan, PagedKvCache& cache, void* stream);
  absl::Status RunMlp(ExecContext& ctx, int64_t index, const Buffers& b, int64_t tokens);
  // Under expert parallelism: routes a MoE layer's tokens on the device, then the exchange.
  absl::Status RunExpertParallelMoe(ExecContext& ctx, int64_t index, const Buffers& b,
                                    int64_t tokens);
  kernels::GroupedTopKArgs GroupedRouting(int64_t tokens, const Buffers& b,
                                          const CudaLayerWeights& layer) const;
  absl::Status RunExperts(const CudaExperts& experts, const kernels::MoeRouting& routing,
                          int32_t top_k, const Buffers& b, int64_t tokens, void* stream);
};

kernels::MlaAttentionArgs CudaNetwork::Impl::MlaShape(int64_t tokens, int32_t max_blocks,
                                                      int32_t block_size) const {
  kernels::MlaAttentionArgs a;
  a.tokens = tokens;
  a.heads = static_cast<int32_t>(config.num_attention_heads);
  a.kv_lora_rank = static_cast<int32_t>(config.mla->kv_lora_rank);
  a.rope_dim = static_cast<int32_t>(config.mla->qk_rope_head_dim);
  a.q_stride = a.heads * (a.kv_lora_rank + a.rope_dim);
  a.block_size = block_size;
  a.max_blocks_per_sequence = max_blocks;
  return a;
}

kernels::PagedAttentionArgs CudaNetwork::Impl::GqaShape(int64_t tokens, int32_t max_blocks,
                                                        int32_t block_size) const {
  kernels::PagedAttentionArgs a;
  a.tokens = tokens;
  a.heads = static_cast<int32_t>(config.num_attention_heads);
  a.kv_heads = static_cast<int32_t>(config.num_key_value_heads);
  a.head_dim = static_cast<int32_t>(config.head_dim);
  a.q_stride = qkv_width();
  a.block_size = block_size;
  a.max_blocks_per_sequence = max_blocks;
  return a;
}

absl::StatusOr<CudaNetwork::Impl::Buffers> CudaNetwork::Impl::Activations(int64_t tokens,
                                                                          int64_t rows_out,
                                                                          int32_t max_blocks,
                                                                          int32_t block_size) {
  const ModelConfig& c = config;
  const int64_t h = c.hidden_size, t = std::max<int64_t>(tokens, 1),
                r = std::max<int64_t>(rows_out, 1), heads = c.num_attention_heads;
  const MlaConfig m = c.mla.value_or(MlaConfig{});
  const int64_t q_width = c.mla ? heads * m.qk_head_dim() : qkv_width(),
                attn_width = heads * (c.mla ? m.v_head_dim : c.head_dim),
                latent = m.kv_lora_rank + m.qk_rope_head_dim, k = c.num_experts_per_tok;
  const size_t attention_workspace =
      c.mla ? kernels::MlaAttentionWorkspaceBytes(MlaShape(t, max_blocks, block_size))
            : kernels::PagedAttentionWorkspaceBytes(GqaShape(t, max_blocks, block_size));
  auto carve = [&](char* base) {
    Carver cv(base);
    Buffers b;
    b.hidden = cv.Take<float>(t * h);
    b.normed = cv.Take<uint16_t>(t * h);
    b.qkv = cv.Take<float>(t * q_width);
    b.attn = cv.Take<uint16_t>(t * attn_width);
    b.router = cv.Take<float>(t * std::max<int64_t>(c.num_experts, 1));
    b.topk_ids = cv.Take<int32_t>(t * k);
    b.topk_weights = cv.Take<float>(t * k);
    b.normed_f32 = cv.Take<float>(t * h);
    b.one_ids = cv.Take<int32_t>(t);
    b.one_weights = cv.Take<float>(t);
    b.q_lora = cv.Take<float>(t * m.q_lora_rank);
    b.q_lora_normed = cv.Take<uint16_t>(t * m.q_lora_rank);
    b.latent = cv.Take<float>(t * latent);
    b.q_bf16 = cv.Take<uint16_t>(c.mla ? t * q_width : 0);
    b.q_absorbed = cv.Take<float>(t * heads * latent);
    b.attn_latent = cv.Take<uint16_t>(t * heads * m.kv_lora_rank);
    b.attention_workspace =
        cv.Take<float>(static_cast<int64_t>(attention_workspace / sizeof(float)));
    b.rows = cv.Take<float>(r * h);
    b.rows_normed = cv.Take<uint16_t>(r * h);
    b.logits = cv.Take<float>(r * c.vocab_size);
    return std::make_pair(b, cv.used());
  };
  const size_t need = carve(nullptr).second;  // a dry run measures the layout
  SY_ASSIGN_OR_RETURN(char* base, activations.Get(need, device));
  return carve(base).first;
}

absl::StatusOr<void*> CudaNetwork::Impl::MoeWorkspace(int64_t tokens, void* stream) {
  const ModelConfig& c = config;
  size_t bytes = 0;
  for (const CudaLayerWeights& layer : weights.layers) {
    const bool routed = layer.router.has_value();
    // Under expert parallelism the routing runs here over all experts (RunExpertParallelMoe).
    const kernels::MoeProblem routed_problem{
        tokens, routed ? static_cast<int32_t>(c.num_experts) : layer.mlp.count,
        routed ? static_cast<int32_t>(c.num_experts_per_tok) : 1, c.hidden_size,
        layer.mlp.intermediate};
    bytes = std::max(bytes, layer.mlp.Plan(routed_problem).workspace_bytes);
    if (layer.shared) {
      const kernels::MoeProblem shared{tokens, 1, 1, c.hidden_size, layer.shared->intermediate};
      bytes = std::max(bytes, layer.shared->Plan(shared).workspace_bytes);
    }
  }
  SY_ASSIGN_OR_RETURN(char* ws, moe_workspace.Get(bytes, device));
  if (moe_workspace.generation() != moe_initialized) {
    SY_RETURN_IF_ERROR(KernelCheck(kernels::InitMoeWorkspace(ws, stream)));
    moe_initialized = moe_workspace.generation();
  }
  return ws;
}

absl::Status CudaNetwork::Impl::RunExperts(const CudaExperts& experts,
                                           const kernels::MoeRouting& routing, int32_t top_k,
                                           const Buffers& b, int64_t tokens, void* stream) {
  const kernels::MoeProblem problem{tokens, experts.count, top_k, config.hidden_size,
                                    experts.intermediate};
  const kernels::MoePlan plan = experts.Plan(problem);
  kernels::MoeLayerArgs args;
  args.x = b.normed;
  args.routing = routing;
  args.weights = experts.View();
  args.out = b.hidden;  // the MLP's output goes straight into the residual stream
  args.accumulate = true;
  args.workspace = b.moe;
  return KernelCheck(kernels::LaunchMoeLayer(problem, plan, args, stream));
}

absl::Status CudaNetwork::Impl::RunExpertParallelMoe(ExecContext& ctx, int64_t index,
                                                     const Buffers& b, int64_t tokens) {
  const ModelConfig& c = config;
  CudaLayerWeights& layer = weights.layers[index];
  void* stream = ctx.stream();
  const auto k = static_cast<int32_t>(c.num_experts_per_tok);
  CudaExpertParallel::Layer moe{.moe_index = moe_index[index],
                                .x = b.normed,
                                .tokens = tokens,
                                .hidden = c.hidden_size,
                                .top_k = k,
                                .out = b.hidden};
  if (c.architecture == Architecture::kDeepseekV3) {
    SY_RETURN_IF_ERROR(
        KernelCheck(kernels::LaunchGroupedTopK(GroupedRouting(tokens, b, layer), stream)));
    moe.ids = b.topk_ids;
    moe.weights = b.topk_weights;
  } else if (tokens > 0) {
    // The MoE kernels' own softmax top-k over every expert (the routing kernel alone), so the
    // ranks route exactly as one GPU does.
    const kernels::MoeProblem problem{tokens, static_cast<int32_t>(c.num_experts), k, c.hidden_size,
                                      layer.mlp.intermediate};
    const kernels::MoePlan plan = layer.mlp.Plan(problem);
    const kernels::MoeWorkspaceView ws = kernels::LayoutMoeWorkspace(problem, plan, b.moe);
    kernels::MoeRouting routing;
    routing.logits = b.router;
    routing.renormalize = RenormalizesTopK(c);
    SY_RETURN_IF_ERROR(KernelCheck(
        kernels::LaunchRouteAlign(problem, plan, routing, ws, nullptr, nullptr, stream)));
    moe.ids = ws.topk_ids;
    moe.weights = ws.topk_weights;
  }
  return expert_parallel->RunLayer(ctx, layer.mlp, moe);
}

absl::Status CudaNetwork::Impl::RunMlp(ExecContext& ctx, int64_t index, const Buffers& b,
                                       int64_t tokens) {
  const ModelConfig& c = config;
  const CudaLayerWeights& layer = weights.layers[index];
  void* stream = ctx.stream();
  const int64_t h = c.hidden_size;
  const auto k = static_cast<int32_t>(c.num_experts_per_tok);
  if (layer.router) {
    SY_RETURN_IF_ERROR(GemmF32(blas, b.normed_f32, tokens, h, *layer.router, b.router));
  }
  if (layer.router_logit_bias) {
    const int64_t e = c.num_experts;
    SY_RETURN_IF_ERROR(KernelCheck(kernels::LaunchAddBias(
        b.router, e, tokens, e, layer.router_logit_bias->data<float>(), stream)));
  }
  if (layer.router && expert_parallel) {
    SY_RETURN_IF_ERROR(RunExpertParallelMoe(ctx, index, b, tokens));
  } else if (layer.router && c.architecture == Architecture::kDeepseekV3) {
    SY_RETURN_IF_ERROR(
        KernelCheck(kernels::LaunchGroupedTopK(GroupedRouting(tokens, b, layer), stream)));
    SY_RETURN_IF_ERROR(RunExperts(layer.mlp, {.ids = b.topk_ids, .weights = b.topk_weights}, k, b,
                                  tokens, stream));
  } else if (layer.router) {
    kernels::MoeRouting routing;
    routing.logits = b.router;
    routing.renormalize = RenormalizesTopK(c);
    SY_RETURN_IF_ERROR(RunExperts(layer.mlp, routing, k, b, tokens, stream));
  } else {  // a dense MLP: one expert, weight 1
    SY_RETURN_IF_ERROR(KernelCheck(kernels::LaunchSharedRouting(nullptr, nullptr, tokens, h,
                                                                b.one_ids, b.one_weights, stream)));
    SY_RETURN_IF_ERROR(
        RunExperts(layer.mlp, {.ids = b.one_ids, .weights = b.one_weights}, 1, b, tokens, stream));
  }
  if (layer.shared) {
    // Qwen2-MoE gates its shared expert; DeepSeek's shared experts always count whole.
    SY_RETURN_IF_ERROR(KernelCheck(
        kernels::LaunchSharedRouting(layer.shared_gate ? b.normed_f32 : nullptr,
                                     layer.shared_gate ? layer.shared_gate->data<float>() : nullptr,
                                     tokens, h, b.one_ids, b.one_weights, stream)));
    SY_RETURN_IF_ERROR(RunExperts(*layer.shared, {.ids = b.one_ids, .weights = b.one_weights}, 1, b,
                                  tokens, stream));
  }
  return absl::OkStatus();
}

kernels::GroupedTopKArgs CudaNetwork::Impl::GroupedRouting(int64_t tokens, const Buffers& b,
                                                           const CudaLayerWeights& layer) const {
  kernels::GroupedTopKArgs a;
  a.logits = b.router;
  a.correction_bias = layer.router_bias ? layer.router_bias->data<float>() : nullptr;
  a.tokens = tokens;
  a.experts = static_cast<int32_t>(config.num_experts);
  a.top_k = static_cast<int32_t>(config.num_experts_per_tok);
  a.n_group = static_cast<int32_t>(config.n_group);
  a.topk_group = static_cast<int32_t>(config.topk_group);
  a.renormalize = config.norm_topk_prob;
  a.routed_scaling_factor = static_cast<float>(config.routed_scaling_factor);
  a.ids = b.topk_ids;
  a.weights = b.topk_weights;
  return a;
}

absl::Status CudaNetwork::Impl::RunLayer(ExecContext& ctx, int64_t index, const Buffers& b,
                                         int64_t tokens, const int32_t* meta, const StepPlan& plan,
                                         PagedKvCache& cache) {
  const ModelConfig& c = config;
  void* stream = ctx.stream();
  const CudaLayerWeights& layer = weights.layers[index];
  const int64_t h = c.hidden_size;
  const float eps = static_cast<float>(c.rms_norm_eps);
  SY_RETURN_IF_ERROR(KernelCheck(kernels::LaunchRmsNormToBF16(
      b.hidden, h, tokens, h, layer.input_norm.data<float>(), eps, b.normed, h, stream)));
  SY_RETURN_IF_ERROR(layer.mla ? RunMlaAttention(index, b, tokens, meta, plan, cache, stream)
                               : RunGqaAttention(index, b, tokens, meta, plan, cache, stream));
  // o_proj adds straight into the residual stream (beta = 1).
  const int64_t attn_width = layer.o.dim(1);
  SY_RETURN_IF_ERROR(Gemm(blas, b.attn, tokens, attn_width, layer.o, b.hidden, 1.0f));
  if (layer.o_bias) {
    SY_RETURN_IF_ERROR(KernelCheck(
        kernels::LaunchAddBias(b.hidden, h, tokens, h, layer.o_bias->data<float>(), stream)));
  }
  // The f32 copy feeds the router and Qwen2-MoE's shared gate.
  SY_RETURN_IF_ERROR(KernelCheck(kernels::LaunchRmsNormToBF16(
      b.hidden, h, tokens, h, layer.post_norm.data<float>(), eps, b.normed, h, stream,
      layer.router || layer.shared_gate ? b.normed_f32 : nullptr)));
  return RunMlp(ctx, index, b, tokens);
}

// Metadata layout (Forward): ids | positions | row_sequence | slots | out_rows | block tables.
absl::Status CudaNetwork::Impl::RunGqaAttention(int64_t index, const Buffers& b, int64_t tokens,
                                                const int32_t* meta, const StepPlan& plan,
                                                PagedKvCache& cache, void* stream) {
  const ModelConfig& c = config;
  const CudaLayerWeights& layer = weights.layers[index];
  const int64_t h = c.hidden_size, hd = c.head_dim, heads = c.num_attention_heads,
                kv = c.num_key_value_heads, width = qkv_width();
  const float eps = static_cast<float>(c.rms_norm_eps);
  const int32_t* positions = meta + tokens;
  const int32_t* row_sequence = meta + 2 * tokens;
  const int32_t* slots = meta + 3 * tokens;
  const int32_t* tables = meta + 4 * tokens + plan.rows_out;

  SY_RETURN_IF_ERROR(Gemm(blas, b.normed, tokens, h, layer.qkv, b.qkv, 0.0f));
  float* q = b.qkv;
  // Bias, q/k norms, RoPE and the cache write: one launch.
  kernels::QkvPrologueArgs prologue;
  prologue.qkv = b.qkv;
  prologue.tokens = tokens;
  prologue.stride = width;
  prologue.heads = static_cast<int32_t>(heads);
  prologue.kv_heads = static_cast<int32_t>(kv);
  prologue.head_dim = static_cast<int32_t>(hd);
  prologue.bias = layer.qkv_bias ? layer.qkv_bias->data<float>() : nullptr;
  prologue.q_norm = layer.q_norm ? layer.q_norm->data<float>() : nullptr;
  prologue.k_norm = layer.k_norm ? layer.k_norm->data<float>() : nullptr;
  prologue.norm_per_head = c.qk_norm == QkNorm::kPerHead;
  prologue.eps = eps;
  prologue.rotary_dim = static_cast<int32_t>(rotary_dim);
  prologue.positions = positions;
  prologue.inv_freq = inv_freq.data<float>();
  prologue.attention_factor = rope_factor;
  prologue.interleaved = rope_interleaved;
  prologue.slots = slots;
  prologue.k_cache = cache.k(index).data<uint16_t>();
  prologue.v_cache = cache.v(index).data<uint16_t>();
  SY_RETURN_IF_ERROR(KernelCheck(kernels::LaunchQkvBiasNormRopeCacheWrite(prologue, stream)));
  kernels::PagedAttentionArgs attention =
      GqaShape(tokens, plan.max_blocks, static_cast<int32_t>(cache.shape().block_size));
  attention.q = q;
  attention.k_cache = cache.k(index).data<uint16_t>();
  attention.v_cache = cache.v(index).data<uint16_t>();
  attention.block_tables = tables;
  attention.row_sequence = row_sequence;
  attention.row_position = positions;
  attention.workspace = b.attention_workspace;
  attention.scale = 1.0f / std::sqrt(static_cast<float>(hd));
  attention.sliding_window = static_cast<int32_t>(c.SlidingWindow(index));
  attention.sinks = layer.sinks ? layer.sinks->data<float>() : nullptr;
  attention.out = b.attn;
  return KernelCheck(kernels::LaunchPagedAttention(attention, stream));
}

// MLA (mla_block.h's math): q and the latent from the normed input, the latent (normed, its
// rope key rotated) into the cache, then the absorbed form for every row, prefill included:
// q_nope goes through W_UK per head into the latent space, attention runs over the cached
// latents themselves, and W_UV per head maps the result back. Prefill thereby costs more FLOPs
// than expanding keys and values (transformers' way) but needs no per-head K/V buffers.
absl::Status CudaNetwork::Impl::RunMlaAttention(int64_t index, const Buffers& b, int64_t tokens,
                                                const int32_t* meta, const StepPlan& plan,
                                                PagedKvCache& cache, void* stream) {
  const ModelConfig& c = config;
  const MlaConfig& m = *c.mla;
  const CudaMlaWeights& w = *weights.layers[index].mla;
  const int64_t h = c.hidden_size, heads = c.num_attention_heads, qk = m.qk_head_dim(),
                rank = m.kv_lora_rank, rope = m.qk_rope_head_dim, nope = m.qk_nope_head_dim,
                vd = m.v_head_dim, latent = rank + rope, q_width = heads * qk;
  constexpr float kLatentNormEps = 1e-6f;  // transformers' default for both latent norms
  const int32_t* positions = meta + tokens;
  const int32_t* slots = meta + 3 * tokens;
  float* q = b.qkv;
  if (w.q_a) {
    const int64_t lora = m.q_lora_rank;
    SY_RETURN_IF_ERROR(Gemm(blas, b.normed, tokens, h, *w.q_a, b.q_lora, 0.0f));
    if (w.q_a_bias) {
      SY_RETURN_IF_ERROR(KernelCheck(
          kernels::LaunchAddBias(b.q_lora, lora, tokens, lora, w.q_a_bias->data<float>(), stream)));
    }
    SY_RETURN_IF_ERROR(KernelCheck(
        kernels::LaunchRmsNormToBF16(b.q_lora, lora, tokens, lora, w.q_a_norm->data<float>(),
                                     kLatentNormEps, b.q_lora_normed, lora, stream)));
    SY_RETURN_IF_ERROR(Gemm(blas, b.q_lora_normed, tokens, lora, w.q, q, 0.0f));
  } else {
    SY_RETURN_IF_ERROR(Gemm(blas, b.normed, tokens, h, w.q, q, 0.0f));
  }
  SY_RETURN_IF_ERROR(Gemm(blas, b.normed, tokens, h, w.kv_a, b.latent, 0.0f));
  if (w.kv_a_bias) {
    SY_RETURN_IF_ERROR(KernelCheck(kernels::LaunchAddBias(b.latent, latent, tokens, latent,
                                                          w.kv_a_bias->data<float>(), stream)));
  }
  SY_RETURN_IF_ERROR(KernelCheck(kernels::LaunchRmsNormInPlace(
      b.latent, latent, tokens, 1, rank, w.kv_a_norm.data<float>(), kLatentNormEps, stream)));
  // The rope lanes: the last `rope` of the latent, and lanes [nope, qk) of each query head.
  SY_RETURN_IF_ERROR(KernelCheck(kernels::LaunchRope(b.latent + rank, latent, tokens, 1, rope, rope,
                                                     positions, inv_freq.data<float>(), rope_factor,
                                                     rope_interleaved, stream)));
  SY_RETURN_IF_ERROR(KernelCheck(kernels::LaunchRope(q + nope, q_width, tokens, heads, qk, rope,
                                                     positions, inv_freq.data<float>(), rope_factor,
                                                     rope_interleaved, stream)));
  SY_RETURN_IF_ERROR(KernelCheck(
      kernels::LaunchKvCacheWriteBF16(b.latent, latent, nullptr, 0, tokens, latent, slots,
                                      cache.k(index).data<uint16_t>(), nullptr, stream)));
  // q_absorbed[t, h] = [W_UK_h^T q_nope_h ; q_rope_h]: W_UK_h [nope, rank] row-major is the
  // column-major [rank, nope] cuBLAS multiplies by q_nope_h (column-major [nope, T]).
  SY_RETURN_IF_ERROR(KernelCheck(kernels::LaunchF32ToBF16(q, b.q_bf16, tokens * q_width, stream)));
  const int64_t kv_b_head = (nope + vd) * rank;  // elements of kv_b per head
  SY_RETURN_IF_ERROR(GemmPerHead(blas, {.op_a = CUBLAS_OP_N,
                                        .m = rank,
                                        .n = tokens,
                                        .k = nope,
                                        .a = w.kv_b.data<uint16_t>(),
                                        .lda = rank,
                                        .stride_a = kv_b_head,
                                        .b = b.q_bf16,
                                        .ldb = q_width,
                                        .stride_b = qk,
                                        .c = b.q_absorbed,
                                        .c_type = CUDA_R_32F,
                                        .ldc = heads * latent,
                                        .stride_c = latent,
                                        .heads = heads}));
  SY_RETURN_IF_ERROR(
      CudaCheck(cudaMemcpy2DAsync(b.q_absorbed + rank, latent * sizeof(float), q + nope,
                                  qk * sizeof(float), rope * sizeof(float), tokens * heads,
                                  cudaMemcpyDeviceToDevice, static_cast<cudaStream_t>(stream)),
                "copying the rope lanes of q"));
  kernels::MlaAttentionArgs attention =
      MlaShape(tokens, plan.max_blocks, static_cast<int32_t>(cache.shape().block_size));
  attention.q = b.q_absorbed;
  attention.cache = cache.k(index).data<uint16_t>();
  attention.block_tables = meta + 4 * tokens + plan.rows_out;
  attention.row_sequence = meta + 2 * tokens;
  attention.row_position = positions;
  attention.scale = static_cast<float>(MlaBlock::SoftmaxScale(c));
  attention.workspace = b.attention_workspace;
  attention.out = b.attn_latent;
  SY_RETURN_IF_ERROR(KernelCheck(kernels::LaunchMlaAttention(attention, stream)));
  // attn[t, h] = W_UV_h . out_latent[t, h]: W_UV_h [v, rank] row-major, transposed as cuBLAS
  // reads it, into the bf16 input of o_proj.
  return GemmPerHead(blas, {.op_a = CUBLAS_OP_T,
                            .m = vd,
                            .n = tokens,
                            .k = rank,
                            .a = w.kv_b.data<uint16_t>() + nope * rank,
                            .lda = rank,
                            .stride_a = kv_b_head,
                            .b = b.attn_latent,
                            .ldb = heads * rank,
                            .stride_b = rank,
                            .c = b.attn,
                            .c_type = CUDA_R_16BF,
                            .ldc = heads * vd,
                            .stride_c = vd,
                            .heads = heads});
}

namespace {

// `pad_tables`: the block tables' width rounded up to a power of two, so that decode steps of a
// batch share one captured graph while their sequences grow.
absl::StatusOr<StepPlan> PlanStep(std::span<const SequenceChunk> batch, PagedKvCache& cache,
                                  int64_t vocab, bool pad_tables) {
  StepPlan plan;
  std::vector<const std::vector<int32_t>*> tables;
  const int64_t block_size = cache.shape().block_size;
  for (size_t s = 0; s < batch.size(); ++s) {
    const SequenceChunk& chunk = batch[s];
    const int64_t n = static_cast<int64_t>(chunk.tokens.size());
    SY_ASSIGN_OR_RETURN(const int64_t start, cache.Length(chunk.sequence, 0));
    SY_RETURN_IF_ERROR(cache.Reserve(chunk.sequence, start + n));
    SY_ASSIGN_OR_RETURN(const std::vector<int32_t>* table, cache.BlockTable(chunk.sequence));
    tables.push_back(table);
    plan.max_blocks = std::max(plan.max_blocks, static_cast<int32_t>(table->size()));
    for (int64_t t = 0; t < n; ++t) {
      const int32_t id = chunk.tokens[t];
      if (id < 0 || id >= vocab) {
        return absl::InvalidArgumentError(
            absl::StrCat("token id ", id, " is outside the vocabulary [0, ", vocab, ")"));
      }
      const int64_t pos = start + t;
      plan.ids.push_back(id);
      plan.positions.push_back(static_cast<int32_t>(pos));
      plan.row_sequence.push_back(static_cast<int32_t>(s));
      plan.slots.push_back(
          static_cast<int32_t>((*table)[pos / block_size] * block_size + pos % block_size));
      if (chunk.all_logits || t == n - 1) {
        plan.out_rows.push_back(static_cast<int32_t>(plan.ids.size() - 1));
      }
    }
  }
  plan.tokens = static_cast<int64_t>(plan.ids.size());
  plan.rows_out = static_cast<int64_t>(plan.out_rows.size());
  if (pad_tables)
    plan.max_blocks = static_cast<int32_t>(std::bit_ceil(static_cast<uint32_t>(plan.max_blocks)));
  plan.tables.assign(batch.size() * plan.max_blocks, 0);
  for (size_t s = 0; s < tables.size(); ++s) {
    std::copy(tables[s]->begin(), tables[s]->end(), plan.tables.begin() + s * plan.max_blocks);
  }
  return plan;
}

// "" when the attention kernels take `c`'s shape, else why not.
std::string UnsupportedAttention(const ModelConfig& c) {
  if (c.mla) {
    kernels::MlaAttentionArgs mla;
    mla.heads = static_cast<int32_t>(c.num_attention_heads);
    mla.kv_lora_rank = static_cast<int32_t>(c.mla->kv_lora_rank);
    mla.rope_dim = static_cast<int32_t>(c.mla->qk_rope_head_dim);
    mla.q_stride = static_cast<int64_t>(mla.heads) * (mla.kv_lora_rank + mla.rope_dim);
    mla.block_size = 16;
    mla.max_blocks_per_sequence = 1;
    return kernels::CheckMlaAttention(mla);
  }
  kernels::PagedAttentionArgs attention;
  attention.heads = static_cast<int32_t>(c.num_attention_heads);
  attention.kv_heads = static_cast<int32_t>(c.num_key_value_heads);
  attention.head_dim = static_cast<int32_t>(c.head_dim);
  attention.block_size = 16;
  attention.max_blocks_per_sequence = 1;
  attention.q_stride = attention.heads * attention.head_dim;
  return kernels::CheckPagedAttention(attention);
}

}  // namespace

std::string CudaNetwork::Unsupported(const ModelConfig& c) {
  if (std::string why = UnsupportedAttention(c); !why.empty()) return "attention: " + why;
  if (c.architecture == Architecture::kDeepseekV3) {
    kernels::GroupedTopKArgs routing;
    routing.experts = static_cast<int32_t>(c.num_experts);
    routing.top_k = static_cast<int32_t>(c.num_experts_per_tok);
    routing.n_group = static_cast<int32_t>(c.n_group);
    routing.topk_group = static_cast<int32_t>(c.topk_group);
    if (std::string why = kernels::CheckGroupedTopK(routing); !why.empty()) return why;
  }
  const int64_t inter[] = {c.expert_intermediate_size(), c.intermediate_size,
                           c.shared_expert_intermediate_size,
                           c.n_shared_experts * c.expert_intermediate_size()};
  for (int64_t i : inter) {
    if (i <= 0) continue;
    const kernels::MoeProblem problem{
        1, static_cast<int32_t>(std::max<int64_t>(c.num_experts, 1)),
        static_cast<int32_t>(std::max<int64_t>(c.num_experts_per_tok, 1)), c.hidden_size, i};
    if (std::string why = kernels::CheckMoeProblem(problem); !why.empty()) return "MLP: " + why;
  }
  return "";
}

CudaNetwork::CudaNetwork(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

CudaNetwork::~CudaNetwork() = default;

CudaNetwork::Impl::~Impl() {
  DropGraphs();
  if (blas != nullptr) cublasDestroy(blas);
}

uint64_t CudaNetwork::Impl::MemoryGeneration() const {
  // Each part only grows, so the sum changes whenever one of them does.
  return activations.generation() + moe_workspace.generation() +
         (expert_parallel ? expert_parallel->memory_generation() : 0);
}

void CudaNetwork::Impl::DropGraphs() {
  for (auto& [key, graph] : graphs) cudaGraphExecDestroy(graph.exec);
  graphs.clear();
}

int64_t CudaNetwork::weight_bytes() const { return impl_->weights.bytes; }

absl::StatusOr<std::unique_ptr<CudaNetwork>> CudaNetwork::Load(const ModelConfig& config,
                                                               const Checkpoint* checkpoint,
                                                               const CudaNetworkOptions& options,
                                                               ExecContext& ctx) {
  if (!ctx.device().is_cuda()) {
    return absl::InvalidArgumentError("the GPU model needs a CUDA execution context");
  }
  if (std::string why = Unsupported(config); !why.empty()) {
    return absl::UnimplementedError(
        absl::StrCat(ArchitectureName(config.architecture), " on the GPU: ", why));
  }
  SY_RETURN_IF_ERROR(CudaCheck(cudaSetDevice(ctx.device().index), "selecting the device"));
  auto impl = std::make_unique<Impl>();
  impl->config = config;
  impl->device = ctx.device();
  const RopeConfig rope = RopeConfigOf(config);
  SY_ASSIGN_OR_RETURN(std::vector<double> inv_freq, RopeInverseFrequencies(rope));
  impl->rotary_dim = 2 * static_cast<int64_t>(inv_freq.size());
  impl->rope_factor = static_cast<float>(RopeAttentionFactor(rope));
  impl->rope_interleaved = rope.interleaved;
  SY_ASSIGN_OR_RETURN(Tensor host_freq,
                      Tensor::FromF32({static_cast<int64_t>(inv_freq.size())},
                                      std::vector<float>(inv_freq.begin(), inv_freq.end())));
  SY_ASSIGN_OR_RETURN(impl->inv_freq, host_freq.To(ctx.device()));
  if (options.expert_parallel) {
    const DispatchDType dispatch = options.expert_parallel->dispatch_dtype;
    if (dispatch == DispatchDType::kF32) {
      return absl::InvalidArgumentError(
          "--dispatch-dtype f32 with the model on the GPU: its experts read bf16, so rows travel "
          "as bf16 (the default) or fp8");
    }
    if (dispatch == DispatchDType::kFP8 && config.hidden_size % 8 != 0) {
      return absl::UnimplementedError(
          absl::StrCat("--dispatch-dtype fp8 with the model on the GPU: hidden_size ",
                       config.hidden_size, " is not a multiple of 8 (use bf16)"));
    }
    if (options.expert_parallel->rebalancer && config.architecture == Architecture::kGptOss) {
      return absl::UnimplementedError(
          "online rebalancing (--rebalance-interval) of gpt-oss on the GPU: its fused experts "
          "are decoded a whole layer at a time, and moving one is not built");
    }
    // Online rebalancing re-reads moved experts: the checkpoint stays mapped.
    std::optional<Checkpoint> source;
    if (options.expert_parallel->rebalancer && checkpoint != nullptr) source = *checkpoint;
    impl->expert_parallel.emplace(options.expert_parallel, std::move(source), ctx.device(),
                                  static_cast<int32_t>(config.num_experts_per_tok),
                                  config.hidden_size);
  }
  SY_ASSIGN_OR_RETURN(impl->weights,
                      LoadCudaWeights(config, checkpoint, options, ctx.device(), ctx.stream()));
  SY_RETURN_IF_ERROR(BlasCheck(cublasCreate(&impl->blas), "creating the cuBLAS handle"));
  constexpr size_t kBlasWorkspace = size_t{32} << 20;
  SY_ASSIGN_OR_RETURN(impl->blas_workspace,
                      Buffer::Allocate(MemoryKind::kDevice, kBlasWorkspace, ctx.device()));
  SY_RETURN_IF_ERROR(
      BlasCheck(cublasSetWorkspace(impl->blas, impl->blas_workspace->data(), kBlasWorkspace),
                "setting cuBLAS's workspace"));
  int32_t moe_layers = 0;
  for (int64_t i = 0; i < config.num_hidden_layers; ++i) {
    impl->moe_index.push_back(config.IsMoeLayer(i) ? moe_layers++ : -1);
  }
  const char* graphs = std::getenv("SWITCHYARD_CUDA_GRAPHS");
  impl->graphs_enabled = graphs == nullptr || std::string(graphs) != "0";
  const char* sampling = std::getenv("SWITCHYARD_DEVICE_SAMPLING");
  impl->device_sampling = (sampling == nullptr || std::string(sampling) != "0") &&
                          config.vocab_size <= kernels::MaxSamplingVocab();
  return std::unique_ptr<CudaNetwork>(new CudaNetwork(std::move(impl)));
}

absl::Status CudaNetwork::Impl::EnqueueStep(ExecContext& ctx, const StepPlan& plan,
                                            const int32_t* md, const Buffers& b,
                                            PagedKvCache& cache) {
  const ModelConfig& c = config;
  void* stream = ctx.stream();
  const int64_t h = c.hidden_size, t = plan.tokens, r = plan.rows_out;
  SY_RETURN_IF_ERROR(KernelCheck(kernels::LaunchEmbeddingGatherBF16(
      weights.embed.data<uint16_t>(), c.vocab_size, h, md, t, b.hidden, stream)));
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
    SY_RETURN_IF_ERROR(RunLayer(ctx, l, b, t, md, plan, cache));
  }
  // Only the wanted rows go through the final norm and the LM head.
  SY_RETURN_IF_ERROR(
      KernelCheck(kernels::LaunchGatherRowsF32(b.hidden, h, md + 4 * t, r, b.rows, stream)));
  SY_RETURN_IF_ERROR(KernelCheck(
      kernels::LaunchRmsNormToBF16(b.rows, h, r, h, weights.final_norm.data<float>(),
                                   static_cast<float>(c.rms_norm_eps), b.rows_normed, h, stream)));
  return Gemm(blas, b.rows_normed, r, h, weights.lm_head, b.logits, 0.0f);
}

absl::StatusOr<Tensor> CudaNetwork::Impl::LogitsTensor(int64_t rows) {
  const Shape shape{rows, config.vocab_size};
  const size_t bytes = DTypeBytes(DType::kF32, NumElements(shape));
  if (bytes == 0) return Tensor::Empty(shape, DType::kF32);
  std::shared_ptr<Buffer>* reusable = nullptr;
  for (std::shared_ptr<Buffer>& buffer : logits_buffers) {
    if (buffer.use_count() != 1) continue;  // still held by a caller
    if (buffer->size() >= bytes) return Tensor::FromBuffer(buffer, 0, shape, DType::kF32);
    reusable = &buffer;
  }
  if (reusable == nullptr && logits_buffers.size() >= kMaxLogitsBuffers) {
    return Tensor::Empty(shape, DType::kF32);  // callers keep them all: pageable, as before
  }
  SY_ASSIGN_OR_RETURN(std::shared_ptr<Buffer> buffer,
                      Buffer::Allocate(MemoryKind::kPinnedHost, bytes));
  if (reusable != nullptr) {
    *reusable = buffer;
  } else {
    logits_buffers.push_back(buffer);
  }
  return Tensor::FromBuffer(std::move(buffer), 0, shape, DType::kF32);
}

absl::StatusOr<CudaNetwork::Impl::DecodeGraph> CudaNetwork::Impl::Capture(
    ExecContext& ctx, const StepPlan& plan, const std::vector<int32_t>& meta, const Buffers& b,
    PagedKvCache& cache) {
  DecodeGraph graph;
  const uint64_t generation = MemoryGeneration();
  const size_t bytes = meta.size() * sizeof(int32_t);
  SY_ASSIGN_OR_RETURN(graph.meta_device, Buffer::Allocate(MemoryKind::kDevice, bytes, device));
  SY_ASSIGN_OR_RETURN(graph.meta_host,
                      Tensor::EmptyPinned({static_cast<int64_t>(meta.size())}, DType::kI32));
  const auto s = static_cast<cudaStream_t>(ctx.stream());
  SY_RETURN_IF_ERROR(CudaCheck(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal),
                               "starting a graph capture"));
  absl::Status enqueued =
      CudaCheck(cudaMemcpyAsync(graph.meta_device->data(), graph.meta_host.raw_data(), bytes,
                                cudaMemcpyHostToDevice, s),
                "capturing the metadata copy");
  if (enqueued.ok()) {
    enqueued =
        EnqueueStep(ctx, plan, static_cast<const int32_t*>(graph.meta_device->data()), b, cache);
  }
  cudaGraph_t captured = nullptr;
  const cudaError_t ended = cudaStreamEndCapture(s, &captured);
  SY_RETURN_IF_ERROR(enqueued);  // the capture is over either way, so the stream is usable
  SY_RETURN_IF_ERROR(CudaCheck(ended, "ending a graph capture"));
  const cudaError_t made = cudaGraphInstantiate(&graph.exec, captured, 0);
  cudaGraphDestroy(captured);
  SY_RETURN_IF_ERROR(CudaCheck(made, "instantiating the decode graph"));
  graph.memory_generation = MemoryGeneration();
  if (graph.memory_generation != generation) {
    cudaGraphExecDestroy(graph.exec);  // sized before the capture: cannot happen
    return absl::InternalError("the GPU model's scratch memory moved while a step was captured");
  }
  return graph;
}

absl::StatusOr<CudaNetwork::Impl::Enqueued> CudaNetwork::Impl::Enqueue(
    ExecContext& ctx, std::span<const SequenceChunk> batch, PagedKvCache& cache) {
  Impl& m = *this;
  const ModelConfig& c = m.config;
  if (cache.shape().device != m.device || cache.shape().dtype != DType::kBF16) {
    return absl::InvalidArgumentError(
        absl::StrCat("the GPU model needs a bf16 KV cache on ", m.device.ToString(), ", not ",
                     DTypeName(cache.shape().dtype), " on ", cache.shape().device.ToString()));
  }
  SY_RETURN_IF_ERROR(CudaCheck(cudaSetDevice(m.device.index), "selecting the device"));
  constexpr size_t kMaxGraphTokens = 512;
  // A step on expert parallelism's collective path waits on the host each layer.
  const bool capturable = !m.expert_parallel || m.expert_parallel->direct_step();
  const bool decode = m.graphs_enabled && capturable && batch.size() <= kMaxGraphTokens &&
                      std::all_of(batch.begin(), batch.end(), [](const SequenceChunk& chunk) {
                        return chunk.tokens.size() == 1;
                      });
  SY_ASSIGN_OR_RETURN(const StepPlan plan, PlanStep(batch, cache, c.vocab_size, decode));
  const int64_t t = plan.tokens, r = plan.rows_out;
  void* stream = ctx.stream();
  const auto s = static_cast<cudaStream_t>(stream);
  SY_RETURN_IF_ERROR(BlasCheck(cublasSetStream(m.blas, s), "binding cuBLAS to the stream"));

  // Metadata: ids | positions | row_sequence | slots | out_rows | block tables, one copy.
  std::vector<int32_t> meta;
  for (const auto* part : {&plan.ids, &plan.positions, &plan.row_sequence, &plan.slots,
                           &plan.out_rows, &plan.tables}) {
    meta.insert(meta.end(), part->begin(), part->end());
  }
  // Both sized before any capture: a graph must never see its memory move.
  SY_ASSIGN_OR_RETURN(
      Impl::Buffers b,
      m.Activations(t, r, plan.max_blocks, static_cast<int32_t>(cache.shape().block_size)));
  SY_ASSIGN_OR_RETURN(b.moe, m.MoeWorkspace(t, stream));
  Impl::GraphKey key{t, plan.max_blocks, cache.id(), {}};
  if (m.expert_parallel) std::get<3>(key) = m.expert_parallel->step_rank_tokens();
  // Only a decode step may replay: a prefill of as many tokens, in as many blocks, lays its
  // metadata out differently (fewer sequences, fewer logits rows).
  auto graph = decode ? m.graphs.find(key) : m.graphs.end();
  if (graph != m.graphs.end() && graph->second.memory_generation != m.MemoryGeneration()) {
    m.DropGraphs();  // memory moved under every graph
    graph = m.graphs.end();
  }
  if (decode && graph == m.graphs.end() && m.seen.contains(key)) {
    if (m.graphs.size() >= Impl::kMaxGraphs) m.DropGraphs();
    absl::StatusOr<Impl::DecodeGraph> captured = m.Capture(ctx, plan, meta, b, cache);
    if (captured.ok()) {
      graph = m.graphs.emplace(key, *std::move(captured)).first;
      Log(LogLevel::kDebug, "gpu",
          absl::StrCat("captured a decode step of ", t, " tokens as a CUDA graph",
                       m.expert_parallel ? " (expert parallelism, direct exchange)" : ""));
    } else {
      // The step still runs, eagerly: under launch the other ranks are already in it.
      Log(LogLevel::kWarning, "gpu",
          absl::StrCat("CUDA graphs off from here: ", captured.status().message()));
      m.graphs_enabled = false;
      m.DropGraphs();
      graph = m.graphs.end();
    }
  }
  if (graph != m.graphs.end()) {
    std::copy(meta.begin(), meta.end(), graph->second.meta_host.data<int32_t>());
    SY_RETURN_IF_ERROR(
        CudaCheck(cudaGraphLaunch(graph->second.exec, s), "replaying the decode graph"));
  } else {
    if (decode) m.seen.insert(key);
    SY_ASSIGN_OR_RETURN(char* meta_device, m.metadata.Get(meta.size() * sizeof(int32_t), m.device));
    SY_RETURN_IF_ERROR(
        CudaCheck(cudaMemcpyAsync(meta_device, meta.data(), meta.size() * sizeof(int32_t),
                                  cudaMemcpyHostToDevice, s),
                  "copying the step's metadata"));
    SY_RETURN_IF_ERROR(
        m.EnqueueStep(ctx, plan, reinterpret_cast<const int32_t*>(meta_device), b, cache));
  }
  return Enqueued{b.logits, r};
}

absl::Status CudaNetwork::Impl::Finish(void* stream, std::span<const SequenceChunk> batch,
                                       PagedKvCache& cache) {
  SY_RETURN_IF_ERROR(
      CudaCheck(cudaStreamSynchronize(static_cast<cudaStream_t>(stream)), "running the step"));
  if (expert_parallel) SY_RETURN_IF_ERROR(expert_parallel->CheckPeers());
  // The step ran whole: only now do the new tokens become part of their sequences.
  for (const SequenceChunk& chunk : batch) {
    SY_RETURN_IF_ERROR(cache.Commit(chunk.sequence, static_cast<int64_t>(chunk.tokens.size())));
  }
  return absl::OkStatus();
}

absl::StatusOr<Tensor> CudaNetwork::Forward(ExecContext& ctx, std::span<const SequenceChunk> batch,
                                            PagedKvCache& cache) {
  Impl& m = *impl_;
  SY_ASSIGN_OR_RETURN(const Impl::Enqueued step, m.Enqueue(ctx, batch, cache));
  SY_ASSIGN_OR_RETURN(Tensor logits, m.LogitsTensor(step.rows));
  SY_RETURN_IF_ERROR(
      CudaCheck(cudaMemcpyAsync(logits.raw_data(), step.logits, logits.nbytes(),
                                cudaMemcpyDeviceToHost, static_cast<cudaStream_t>(ctx.stream())),
                "copying the logits"));
  SY_RETURN_IF_ERROR(m.Finish(ctx.stream(), batch, cache));
  return logits;
}

namespace {

// The sampling kernel's view of a draw from logits row `row`.
kernels::SamplingRow SamplingRowOf(const DeviceDraw& draw, int64_t row, int32_t history_begin) {
  const SamplingParams& p = *draw.params;
  const bool penalized = p.repetition_penalty != 1.0f;  // else the history is not read
  return {.seed = p.seed,
          .step = draw.step,
          .logits_row = static_cast<int32_t>(row),
          .temperature = p.temperature,
          .top_k = p.top_k,
          .top_p = p.top_p,
          .min_p = p.min_p,
          .repetition_penalty = p.repetition_penalty,
          .history_begin = history_begin,
          .history_length = penalized ? static_cast<int32_t>(draw.history.size()) : 0};
}

absl::Status CheckDraws(std::span<const SequenceChunk> batch, std::span<const DeviceDraw> draws) {
  for (const DeviceDraw& draw : draws) {
    if (draw.chunk >= batch.size() || draw.params == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("a draw names chunk ", draw.chunk, " of ",
                                                     batch.size(), " or has no parameters"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<const int32_t*> CudaNetwork::Impl::EnqueueDraws(const float* logits,
                                                               std::span<const SequenceChunk> batch,
                                                               std::span<const DeviceDraw> draws,
                                                               void* stream) {
  std::vector<int64_t> last_row(batch.size());  // each chunk's last logits row
  int64_t rows = 0;
  for (size_t c = 0; c < batch.size(); ++c) {
    rows += batch[c].all_logits ? static_cast<int64_t>(batch[c].tokens.size()) : 1;
    last_row[c] = rows - 1;
  }
  std::vector<kernels::SamplingRow> sampling_rows;
  std::vector<int32_t> history;
  for (const DeviceDraw& draw : draws) {
    sampling_rows.push_back(
        SamplingRowOf(draw, last_row[draw.chunk], static_cast<int32_t>(history.size())));
    const int32_t length = sampling_rows.back().history_length;
    history.insert(history.end(), draw.history.begin(), draw.history.begin() + length);
  }
  const int64_t n = static_cast<int64_t>(draws.size());
  struct Layout {
    kernels::SamplingRow* rows;
    int32_t* history;
    int32_t* ids;
  };
  // Rows and histories go over in one copy, the ids come back in another.
  auto carve = [&](char* base) {
    Carver cv(base);
    Layout l{cv.Take<kernels::SamplingRow>(n), cv.Take<int32_t>(std::ssize(history)), nullptr};
    l.ids = cv.Take<int32_t>(n);
    return std::make_pair(l, cv.used());
  };
  const size_t bytes = carve(nullptr).second;
  SY_ASSIGN_OR_RETURN(char* host_base, draws_host.Get(bytes, device));
  SY_ASSIGN_OR_RETURN(char* device_base, draws_device.Get(bytes, device));
  const Layout host = carve(host_base).first, on_device = carve(device_base).first;
  std::copy(sampling_rows.begin(), sampling_rows.end(), host.rows);
  std::copy(history.begin(), history.end(), host.history);
  const auto s = static_cast<cudaStream_t>(stream);
  const size_t inputs = reinterpret_cast<char*>(host.ids) - host_base;
  SY_RETURN_IF_ERROR(CudaCheck(
      cudaMemcpyAsync(device_base, host_base, inputs, cudaMemcpyHostToDevice, s), "copying draws"));
  SY_RETURN_IF_ERROR(KernelCheck(kernels::LaunchSampleRows({.logits = logits,
                                                            .vocab = config.vocab_size,
                                                            .rows = on_device.rows,
                                                            .count = n,
                                                            .history = on_device.history,
                                                            .out = on_device.ids},
                                                           stream)));
  SY_RETURN_IF_ERROR(CudaCheck(
      cudaMemcpyAsync(host.ids, on_device.ids, n * sizeof(int32_t), cudaMemcpyDeviceToHost, s),
      "copying the sampled ids"));
  return host.ids;
}

bool CudaNetwork::samples_on_device() const { return impl_->device_sampling; }

absl::StatusOr<bool> CudaNetwork::BeginExpertParallelStep(ExecContext& ctx,
                                                          std::span<const int64_t> rank_tokens) {
  Impl& m = *impl_;
  if (!m.expert_parallel) return false;
  SY_RETURN_IF_ERROR(CudaCheck(cudaSetDevice(m.device.index), "selecting the device"));
  return m.expert_parallel->BeginStep(ctx, rank_tokens);
}

absl::Status CudaNetwork::LendExperts(ExecContext& ctx) {
  Impl& m = *impl_;
  if (!m.expert_parallel) return absl::OkStatus();
  SY_RETURN_IF_ERROR(CudaCheck(cudaSetDevice(m.device.index), "selecting the device"));
  for (size_t i = 0; i < m.weights.layers.size(); ++i) {
    CudaLayerWeights& layer = m.weights.layers[i];
    if (!layer.router) continue;
    SY_RETURN_IF_ERROR(
        m.expert_parallel->RunLayer(ctx, layer.mlp,
                                    {.moe_index = m.moe_index[i],
                                     .hidden = m.config.hidden_size,
                                     .top_k = static_cast<int32_t>(m.config.num_experts_per_tok)}));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<int32_t>> CudaNetwork::ForwardSampled(
    ExecContext& ctx, std::span<const SequenceChunk> batch, PagedKvCache& cache,
    std::span<const DeviceDraw> draws) {
  Impl& m = *impl_;
  SY_RETURN_IF_ERROR(CheckDraws(batch, draws));
  SY_ASSIGN_OR_RETURN(const Impl::Enqueued step, m.Enqueue(ctx, batch, cache));
  const int32_t* ids = nullptr;  // a step of prefill chunks only draws nothing
  if (!draws.empty()) {
    SY_ASSIGN_OR_RETURN(ids, m.EnqueueDraws(step.logits, batch, draws, ctx.stream()));
  }
  SY_RETURN_IF_ERROR(m.Finish(ctx.stream(), batch, cache));
  return std::vector<int32_t>(ids, ids + draws.size());
}

}  // namespace sy
