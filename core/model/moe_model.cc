#include "core/model/moe_model.h"

#include <cstring>

#include "absl/strings/str_cat.h"
#include "core/base/status.h"
#include "core/dense/attention.h"
#include "core/dense/embedding.h"
#include "core/dense/rms_norm.h"
#include "core/model/gpt_oss_weights.h"
#include "core/model/linear.h"
#include "core/model/mla_block.h"
#include "core/model/tensor_names.h"
#include "core/model/weight_loader.h"
#include "core/tensor/matmul.h"

namespace sy {

struct MoeModel::Layer {
  Tensor input_norm, post_norm;
  std::optional<MlaBlock> mla;  // DeepSeek-V3; otherwise q, k, v, o:
  Tensor q, k, v, o;
  std::optional<Tensor> q_bias, k_bias, v_bias, o_bias, q_norm, k_norm;
  std::optional<Tensor> sinks;    // gpt-oss: f32 [heads]
  std::unique_ptr<MoeLayer> moe;  // or a dense MLP:
  Tensor mlp_gate, mlp_up, mlp_down;
};

namespace {

// [a; b]: rows of a, then rows of b (gate then up, as sy_expert_weights wants).
absl::StatusOr<Tensor> StackRows(const Tensor& a, const Tensor& b) {
  SY_ASSIGN_OR_RETURN(Tensor out, Tensor::Empty({a.dim(0) + b.dim(0), a.dim(1)}, DType::kF32));
  std::memcpy(out.data<float>(), a.data<float>(), a.nbytes());
  std::memcpy(out.data<float>() + a.numel(), b.data<float>(), b.nbytes());
  return out;
}

void AddInPlace(Tensor& a, const Tensor& b) {
  float* x = a.data<float>();
  const float* y = b.data<float>();
  for (int64_t i = 0; i < a.numel(); ++i) x[i] += y[i];
}

// The router each architecture uses: softmax top-k, renormalized as its config says, or
// DeepSeek-V3's grouped top-k (transformers 5 masks dropped groups with -inf).
std::pair<std::string, ConfigTable> DefaultRouter(const ModelConfig& c) {
  if (c.architecture == Architecture::kDeepseekV3) {
    return {"router.grouped_topk",
            {{"k", {c.num_experts_per_tok}},
             {"nGroup", {c.n_group}},
             {"topkGroup", {c.topk_group}},
             {"routedScalingFactor", {c.routed_scaling_factor}},
             {"renormalize", {c.norm_topk_prob}},
             {"scoring", {std::string("sigmoid")}},
             {"maskedGroupFill", {std::string("negInf")}}}};
  }
  return {"router.softmax_topk",
          {{"k", {c.num_experts_per_tok}}, {"renormalize", {RenormalizesTopK(c)}}}};
}

absl::StatusOr<MoeWeights> LoadMoeWeights(const Checkpoint& ckpt, const ModelConfig& c,
                                          int64_t layer) {
  const ExpertNames n = ExpertNaming(c.architecture, layer);
  const int64_t h = c.hidden_size, inter = c.expert_intermediate_size();
  MoeWeights w;
  SY_ASSIGN_OR_RETURN(w.router, LoadF32(ckpt, n.prefix + n.router + ".weight", {c.num_experts, h}));
  SY_ASSIGN_OR_RETURN(
      w.correction_bias,
      LoadOptional(ckpt, c.architecture == Architecture::kDeepseekV3,
                   n.prefix + n.router + ".e_score_correction_bias", {c.num_experts}));
  for (int64_t e = 0; e < c.num_experts; ++e) {
    const std::string expert = absl::StrCat(n.prefix, "experts.", e, ".");
    SY_ASSIGN_OR_RETURN(Tensor gate, LoadF32(ckpt, expert + n.gate + ".weight", {inter, h}));
    SY_ASSIGN_OR_RETURN(Tensor up, LoadF32(ckpt, expert + n.up + ".weight", {inter, h}));
    SY_ASSIGN_OR_RETURN(Tensor gate_up, StackRows(gate, up));
    SY_ASSIGN_OR_RETURN(Tensor down, LoadF32(ckpt, expert + n.down + ".weight", {h, inter}));
    w.gate_up.push_back(std::move(gate_up));
    w.down.push_back(std::move(down));
  }
  // DeepSeek's n_shared_experts run as one MLP of n_shared_experts times the expert width.
  const int64_t shared = c.shared_expert_intermediate_size > 0
                             ? c.shared_expert_intermediate_size
                             : c.n_shared_experts * c.expert_intermediate_size();
  if (shared > 0) {
    const std::string s = n.prefix + n.shared;
    SY_ASSIGN_OR_RETURN(Tensor gate, LoadF32(ckpt, s + "gate_proj.weight", {shared, h}));
    SY_ASSIGN_OR_RETURN(Tensor up, LoadF32(ckpt, s + "up_proj.weight", {shared, h}));
    SY_ASSIGN_OR_RETURN(w.shared_gate_up, StackRows(gate, up));
    SY_ASSIGN_OR_RETURN(w.shared_down, LoadF32(ckpt, s + "down_proj.weight", {h, shared}));
  }
  if (c.shared_expert_intermediate_size > 0) {  // Qwen2-MoE's sigmoid gate
    SY_ASSIGN_OR_RETURN(Tensor shared_gate,
                        LoadF32(ckpt, n.prefix + "shared_expert_gate.weight", {1, h}));
    SY_ASSIGN_OR_RETURN(w.shared_gate, shared_gate.Reshape({h}));
  }
  return w;
}

// The q/k/v/o projections of a GQA layer, with their biases and q/k norms when the config has
// them.
absl::Status LoadAttention(const Checkpoint& ckpt, const ModelConfig& c, const std::string& p,
                           MoeModel::Layer& layer) {
  const int64_t h = c.hidden_size, hd = c.head_dim, heads = c.num_attention_heads,
                kv = c.num_key_value_heads;
  const bool per_head = c.qk_norm == QkNorm::kPerHead;
  SY_ASSIGN_OR_RETURN(layer.q, LoadF32(ckpt, p + "self_attn.q_proj.weight", {heads * hd, h}));
  SY_ASSIGN_OR_RETURN(layer.k, LoadF32(ckpt, p + "self_attn.k_proj.weight", {kv * hd, h}));
  SY_ASSIGN_OR_RETURN(layer.v, LoadF32(ckpt, p + "self_attn.v_proj.weight", {kv * hd, h}));
  SY_ASSIGN_OR_RETURN(layer.o, LoadF32(ckpt, p + "self_attn.o_proj.weight", {h, heads * hd}));
  SY_ASSIGN_OR_RETURN(layer.q_bias, LoadOptional(ckpt, c.attention_bias,
                                                 p + "self_attn.q_proj.bias", {heads * hd}));
  SY_ASSIGN_OR_RETURN(layer.k_bias,
                      LoadOptional(ckpt, c.attention_bias, p + "self_attn.k_proj.bias", {kv * hd}));
  SY_ASSIGN_OR_RETURN(layer.v_bias,
                      LoadOptional(ckpt, c.attention_bias, p + "self_attn.v_proj.bias", {kv * hd}));
  // gpt-oss alone biases o_proj too (Qwen2-MoE's attention_bias covers q, k and v), and adds a
  // sink logit per head.
  const bool gpt_oss = c.architecture == Architecture::kGptOss;
  SY_ASSIGN_OR_RETURN(layer.o_bias, LoadOptional(ckpt, gpt_oss && c.attention_bias,
                                                 p + "self_attn.o_proj.bias", {h}));
  SY_ASSIGN_OR_RETURN(layer.sinks, LoadOptional(ckpt, gpt_oss, p + "self_attn.sinks", {heads}));
  const bool qk = c.qk_norm != QkNorm::kNone;
  SY_ASSIGN_OR_RETURN(layer.q_norm, LoadOptional(ckpt, qk, p + "self_attn.q_norm.weight",
                                                 {per_head ? hd : heads * hd}));
  SY_ASSIGN_OR_RETURN(layer.k_norm, LoadOptional(ckpt, qk, p + "self_attn.k_norm.weight",
                                                 {per_head ? hd : kv * hd}));
  return absl::OkStatus();
}

int64_t TokensIn(std::span<const SequenceChunk> batch) {
  int64_t n = 0;
  for (const SequenceChunk& chunk : batch) n += static_cast<int64_t>(chunk.tokens.size());
  return n;
}

}  // namespace

RopeConfig RopeConfigOf(const ModelConfig& c) {
  RopeConfig r;
  r.head_dim = c.mla ? c.mla->qk_rope_head_dim : c.head_dim;
  r.theta = c.rope_theta;
  r.interleaved = c.mla && c.mla->rope_interleave;
  if (!c.rope_scaling) return r;
  const RopeScaling& s = *c.rope_scaling;
  r.scaling_type = s.type;
  r.factor = s.factor;
  r.original_max_position_embeddings =
      s.original_max_position_embeddings.value_or(static_cast<double>(c.max_position_embeddings));
  r.beta_fast = s.beta_fast;
  r.beta_slow = s.beta_slow;
  r.truncate = s.truncate;
  r.mscale = s.mscale;
  r.mscale_all_dim = s.mscale_all_dim;
  r.attention_factor = s.attention_factor;
  return r;
}

bool RenormalizesTopK(const ModelConfig& c) {
  return c.architecture == Architecture::kMixtral || c.norm_topk_prob;
}

MoeModel::MoeModel(ModelConfig config) : config_(std::move(config)) {}
MoeModel::~MoeModel() = default;

absl::StatusOr<std::unique_ptr<MoeModel>> MoeModel::Load(const Checkpoint& ckpt,
                                                         const ComponentRegistry& registry,
                                                         const ModelOptions& options,
                                                         ExecContext& ctx) {
  const ModelConfig& c = ckpt.config();
  if (options.device.is_cuda()) return LoadOnGpu(c, &ckpt, options, 0, ctx);
  if (!ctx.device().is_cpu()) {
    return absl::InvalidArgumentError(
        absl::StrCat("the CPU model needs a CPU execution context, not ", ctx.device().ToString()));
  }
  std::unique_ptr<MoeModel> model(new MoeModel(c));
  const int64_t h = c.hidden_size;
  model->rope_ = RopeConfigOf(c);
  SY_ASSIGN_OR_RETURN(model->embed_, LoadF32(ckpt, "model.embed_tokens.weight", {c.vocab_size, h}));
  SY_ASSIGN_OR_RETURN(model->final_norm_, LoadF32(ckpt, "model.norm.weight", {h}));
  if (c.tie_word_embeddings) {
    model->lm_head_ = model->embed_;
  } else {
    SY_ASSIGN_OR_RETURN(model->lm_head_, LoadF32(ckpt, "lm_head.weight", {c.vocab_size, h}));
  }

  auto [default_router, default_config] = DefaultRouter(c);
  const std::string router_name = options.router.empty() ? default_router : options.router;
  SY_ASSIGN_OR_RETURN(RegisteredComponent router_found, registry.Find(router_name));
  ConfigValue router_config{default_config};
  if (options.router_config) {
    router_config = *options.router_config;
  } else if (router_name != default_router) {
    router_config = ConfigValue{ConfigTable{{"k", ConfigValue{c.num_experts_per_tok}}}};
  }
  SY_ASSIGN_OR_RETURN(RegisteredComponent experts_found, registry.Find(options.experts));
  std::optional<RegisteredComponent> quantizer_found;
  if (!options.quantizer.empty()) {
    SY_ASSIGN_OR_RETURN(quantizer_found, registry.Find(options.quantizer));
  }
  model->expert_parallel_ = options.expert_parallel;
  int moe_index = 0;
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
    auto layer = std::make_unique<Layer>();
    const std::string p = absl::StrCat("model.layers.", i, ".");
    SY_ASSIGN_OR_RETURN(layer->input_norm, LoadF32(ckpt, p + "input_layernorm.weight", {h}));
    SY_ASSIGN_OR_RETURN(layer->post_norm,
                        LoadF32(ckpt, p + "post_attention_layernorm.weight", {h}));
    if (c.mla) {
      SY_ASSIGN_OR_RETURN(layer->mla, MlaBlock::Load(ckpt, i));
    } else {
      SY_RETURN_IF_ERROR(LoadAttention(ckpt, c, p, *layer));
    }
    if (c.IsMoeLayer(i)) {
      SY_ASSIGN_OR_RETURN(MoeWeights weights, c.architecture == Architecture::kGptOss
                                                  ? LoadGptOssMoeWeights(ckpt, i)
                                                  : LoadMoeWeights(ckpt, c, i));
      SY_ASSIGN_OR_RETURN(auto router_component, Component::Create(router_found, router_config));
      SY_ASSIGN_OR_RETURN(Router router, Router::From(router_component));
      SY_ASSIGN_OR_RETURN(
          auto experts_component,
          Component::Create(experts_found, options.experts_config.value_or(ConfigValue{})));
      SY_ASSIGN_OR_RETURN(Experts experts, Experts::From(experts_component));
      std::optional<Quantizer> quantizer;
      if (quantizer_found) {
        SY_ASSIGN_OR_RETURN(auto q, Component::Create(*quantizer_found, {}));
        SY_ASSIGN_OR_RETURN(quantizer, Quantizer::From(q));
      }
      MoeLayerOptions layer_options;
      layer_options.layer = static_cast<int>(i);
      layer_options.capacity = options.capacity;
      layer_options.expert_parallel = options.expert_parallel;
      layer_options.moe_index = moe_index++;
      SY_ASSIGN_OR_RETURN(layer->moe,
                          MoeLayer::Create(RoutingFunction::FromRouter(router), quantizer, experts,
                                           weights, layer_options, ctx));
    } else {
      const int64_t inter = c.intermediate_size;
      SY_ASSIGN_OR_RETURN(layer->mlp_gate, LoadF32(ckpt, p + "mlp.gate_proj.weight", {inter, h}));
      SY_ASSIGN_OR_RETURN(layer->mlp_up, LoadF32(ckpt, p + "mlp.up_proj.weight", {inter, h}));
      SY_ASSIGN_OR_RETURN(layer->mlp_down, LoadF32(ckpt, p + "mlp.down_proj.weight", {h, inter}));
    }
    model->layers_.push_back(std::move(layer));
    if (options.progress) options.progress(i + 1, c.num_hidden_layers);
  }
  return model;
}

absl::StatusOr<std::unique_ptr<MoeModel>> MoeModel::CreateRandom(const ModelConfig& config,
                                                                 const ModelOptions& options,
                                                                 uint64_t seed, ExecContext& ctx) {
  if (!options.device.is_cuda()) {
    return absl::InvalidArgumentError(
        "random weights are synthesized on a GPU (--device cuda); on the CPU, `switchyard "
        "make-model` writes a random checkpoint");
  }
  return LoadOnGpu(config, nullptr, options, seed, ctx);
}

absl::StatusOr<std::unique_ptr<MoeModel>> MoeModel::LoadOnGpu(const ModelConfig& config,
                                                              const Checkpoint* checkpoint,
                                                              const ModelOptions& options,
                                                              uint64_t seed, ExecContext& ctx) {
  if (ctx.device() != options.device) {
    return absl::InvalidArgumentError(
        absl::StrCat("the model is to run on ", options.device.ToString(),
                     " but its execution context is on ", ctx.device().ToString()));
  }
  // What the GPU path does not offer yet is refused by name rather than silently ignored.
  if (!options.router.empty()) {
    return absl::UnimplementedError(
        "--router on the GPU: the architecture's softmax top-k runs fused in the MoE kernel; "
        "other routers run on the CPU for now");
  }
  if (!options.quantizer.empty()) {
    return absl::UnimplementedError(
        "--quantizer on the GPU: expert weights are bf16 there for now");
  }
  if (options.capacity) return absl::UnimplementedError("capacity limits on the GPU");
  std::unique_ptr<MoeModel> model(new MoeModel(config));
  model->device_ = options.device;
  model->expert_parallel_ = options.expert_parallel;
  CudaNetworkOptions gpu;
  gpu.expert_parallel = options.expert_parallel;
  gpu.random_weights = checkpoint == nullptr;
  gpu.seed = seed;
  gpu.progress = options.progress;
  SY_ASSIGN_OR_RETURN(model->gpu_, CudaNetwork::Load(config, checkpoint, gpu, ctx));
  return model;
}

KvCacheShape MoeModel::CacheShape(int64_t num_blocks, int64_t block_size) const {
  KvCacheShape s;
  if (config_.mla) {
    s = MlaBlock::CacheShape(config_, num_blocks, block_size);
  } else {
    s.num_layers = config_.num_hidden_layers;
    s.num_blocks = num_blocks;
    s.block_size = block_size;
    s.kv_heads = config_.num_key_value_heads;
    s.head_dim = config_.head_dim;
  }
  s.device = device_;
  s.dtype = device_.is_cpu() ? DType::kF32 : DType::kBF16;
  return s;
}

MoeLayer* MoeModel::NextMoeLayer(int64_t index) {
  for (size_t i = index + 1; i < layers_.size(); ++i) {
    if (layers_[i]->moe) return layers_[i]->moe.get();
  }
  return nullptr;
}

std::vector<const MoeLayer*> MoeModel::moe_layers() const {
  std::vector<const MoeLayer*> out;
  for (const auto& l : layers_) {
    if (l->moe) out.push_back(l->moe.get());
  }
  return out;
}

std::vector<MoeLayer*> MoeModel::moe_layers() {
  std::vector<MoeLayer*> out;
  for (const auto& l : layers_) {
    if (l->moe) out.push_back(l->moe.get());
  }
  return out;
}

absl::StatusOr<Tensor> MoeModel::Attend(ExecContext& ctx, Layer& layer, int64_t index,
                                        const Tensor& x, const Tensor& positions,
                                        std::span<const SequenceChunk> batch, PagedKvCache& cache) {
  const ModelConfig& c = config_;
  const int threads = ctx.num_threads();
  const int64_t heads = c.num_attention_heads, kv = c.num_key_value_heads;
  SY_ASSIGN_OR_RETURN(Tensor q, Linear(x, layer.q, layer.q_bias));
  SY_ASSIGN_OR_RETURN(Tensor k, Linear(x, layer.k, layer.k_bias));
  SY_ASSIGN_OR_RETURN(Tensor v, Linear(x, layer.v, layer.v_bias));
  if (c.qk_norm == QkNorm::kPerHead) {  // Qwen3: each head's slice
    SY_ASSIGN_OR_RETURN(q, RmsNormHeads(q, *layer.q_norm, heads, c.rms_norm_eps, threads));
    SY_ASSIGN_OR_RETURN(k, RmsNormHeads(k, *layer.k_norm, kv, c.rms_norm_eps, threads));
  } else if (c.qk_norm == QkNorm::kAcrossHeads) {  // OLMoE: the whole projection
    SY_ASSIGN_OR_RETURN(q, RmsNorm(q, *layer.q_norm, c.rms_norm_eps, threads));
    SY_ASSIGN_OR_RETURN(k, RmsNorm(k, *layer.k_norm, c.rms_norm_eps, threads));
  }
  SY_RETURN_IF_ERROR(ApplyRope(rope_, positions, q, heads, threads));
  SY_RETURN_IF_ERROR(ApplyRope(rope_, positions, k, kv, threads));
  // Attention is the one per-sequence part of the step: each chunk appends its rows of k and v
  // to its own cache blocks and attends over its own history.
  SY_ASSIGN_OR_RETURN(Tensor a, Tensor::Empty(q.shape(), DType::kF32));
  AttentionOptions attention;
  attention.threads = threads;
  attention.sliding_window = c.SlidingWindow(index);
  attention.sinks = layer.sinks;
  int64_t row = 0;
  for (const SequenceChunk& chunk : batch) {
    const int64_t n = static_cast<int64_t>(chunk.tokens.size());
    SY_ASSIGN_OR_RETURN(Tensor k_rows, k.SliceRows(row, row + n));
    SY_ASSIGN_OR_RETURN(Tensor v_rows, v.SliceRows(row, row + n));
    SY_ASSIGN_OR_RETURN(Tensor q_rows, q.SliceRows(row, row + n));
    SY_RETURN_IF_ERROR(cache.Append(chunk.sequence, index, k_rows, v_rows));
    SY_ASSIGN_OR_RETURN(Tensor out,
                        PagedAttention(q_rows, heads, cache, chunk.sequence, index, attention));
    std::memcpy(a.data<float>() + row * a.dim(1), out.data<float>(), out.nbytes());
    row += n;
  }
  return Linear(a, layer.o, layer.o_bias);
}

absl::StatusOr<Tensor> MoeModel::RunLayer(ExecContext& ctx, Layer& layer, int64_t index,
                                          const Tensor& hidden, const Tensor& token_ids,
                                          const Tensor& positions,
                                          std::span<const SequenceChunk> batch,
                                          PagedKvCache& cache) {
  const ModelConfig& c = config_;
  const int threads = ctx.num_threads();
  SY_ASSIGN_OR_RETURN(Tensor x, RmsNorm(hidden, layer.input_norm, c.rms_norm_eps, threads));
  Tensor o;
  if (layer.mla) {
    std::vector<SequenceRows> rows;
    for (const SequenceChunk& chunk : batch) {
      rows.push_back({chunk.sequence, static_cast<int64_t>(chunk.tokens.size())});
    }
    SY_ASSIGN_OR_RETURN(o, layer.mla->Forward(x, positions, rows, index, rope_, cache, threads));
  } else {
    SY_ASSIGN_OR_RETURN(o, Attend(ctx, layer, index, x, positions, batch, cache));
  }
  SY_ASSIGN_OR_RETURN(Tensor h, hidden.Clone());
  AddInPlace(h, o);

  SY_ASSIGN_OR_RETURN(Tensor y, RmsNorm(h, layer.post_norm, c.rms_norm_eps, threads));
  Tensor mlp;
  if (layer.moe) {
    SY_ASSIGN_OR_RETURN(mlp, layer.moe->Forward(ctx, y, token_ids));
    // The next MoE layer's experts, predicted from this layer's input, can travel (to a GPU
    // cache, say) while this layer's residual and the next attention run.
    if (MoeLayer* next = NextMoeLayer(index)) SY_RETURN_IF_ERROR(next->Prefetch(ctx, y));
  } else {
    SY_ASSIGN_OR_RETURN(Tensor g, Linear(y, layer.mlp_gate));
    SY_ASSIGN_OR_RETURN(Tensor u, Linear(y, layer.mlp_up));
    float* gp = g.data<float>();
    const float* up = u.data<float>();
    for (int64_t i = 0; i < g.numel(); ++i) gp[i] = gp[i] / (1.0f + std::exp(-gp[i])) * up[i];
    SY_ASSIGN_OR_RETURN(mlp, Linear(g, layer.mlp_down));
  }
  AddInPlace(h, mlp);
  return h;
}

absl::StatusOr<Tensor> MoeModel::Forward(ExecContext& ctx, const std::vector<int32_t>& tokens,
                                         int64_t sequence, PagedKvCache& cache) {
  const SequenceChunk chunk{.sequence = sequence, .tokens = tokens, .all_logits = true};
  return ForwardBatch(ctx, std::span<const SequenceChunk>(&chunk, 1), cache);
}

absl::StatusOr<int64_t> MoeModel::RanksStepping(ExecContext& ctx, int64_t signal, int64_t tokens) {
  const int world = expert_parallel_->world_size();
  SY_ASSIGN_OR_RETURN(Tensor round, Tensor::Empty({1 + world}, DType::kI64));
  int64_t* values = round.data<int64_t>();
  std::fill(values, values + 1 + world, 0);
  values[0] = signal;
  values[1 + expert_parallel_->rank()] = tokens;
  SY_RETURN_IF_ERROR(AllReduceHostSum(ctx, *expert_parallel_->comm, round));
  if (values[0] % kKeepAlive == 0) return values[0];  // no pass this round
  bool direct = false;
  if (gpu_) {
    SY_ASSIGN_OR_RETURN(
        direct, gpu_->BeginExpertParallelStep(ctx, std::span<const int64_t>(values + 1, world)));
  }
  ++(direct ? expert_parallel_->exchange_steps->direct
            : expert_parallel_->exchange_steps->collective);
  return values[0];
}

absl::Status MoeModel::RunIdlePass(ExecContext& ctx) {
  if (gpu_) return gpu_->LendExperts(ctx);
  SY_ASSIGN_OR_RETURN(Tensor none, Tensor::Empty({0, config_.hidden_size}, DType::kF32));
  for (MoeLayer* moe : moe_layers()) SY_RETURN_IF_ERROR(moe->Forward(ctx, none).status());
  return absl::OkStatus();
}

absl::Status MoeModel::FinishSteps(ExecContext& ctx) {
  if (!expert_parallel_) return absl::OkStatus();
  while (true) {
    SY_ASSIGN_OR_RETURN(const int64_t signals, RanksStepping(ctx, 0));
    if (signals == 0) return absl::OkStatus();
    // Only keep-alives: a rank is alive with nothing to run, so no pass this round.
    if (signals % kKeepAlive != 0) SY_RETURN_IF_ERROR(RunIdlePass(ctx));
  }
}

absl::Status MoeModel::KeepAlive(ExecContext& ctx) {
  if (!expert_parallel_) return absl::OkStatus();
  return RanksStepping(ctx, kKeepAlive).status();
}

absl::Status MoeModel::CheckBatch(std::span<const SequenceChunk> batch,
                                  const PagedKvCache& cache) const {
  for (const SequenceChunk& chunk : batch) {
    if (chunk.tokens.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("sequence ", chunk.sequence, " has no tokens in the step"));
    }
    SY_ASSIGN_OR_RETURN(const int64_t start, cache.Length(chunk.sequence, 0));
    const int64_t end = start + static_cast<int64_t>(chunk.tokens.size());
    if (end > config_.max_position_embeddings) {
      return absl::OutOfRangeError(absl::StrCat("sequence ", chunk.sequence, " would reach ", end,
                                                " tokens; the model's context is ",
                                                config_.max_position_embeddings));
    }
  }
  return absl::OkStatus();
}

bool MoeModel::samples_on_device() const { return gpu_ != nullptr && gpu_->samples_on_device(); }

absl::StatusOr<std::vector<int32_t>> MoeModel::ForwardBatchSampled(
    ExecContext& ctx, std::span<const SequenceChunk> batch, PagedKvCache& cache,
    std::span<const DeviceDraw> draws) {
  if (!samples_on_device()) {
    return absl::FailedPreconditionError(
        "this model samples on the host: sample ForwardBatch's logits with Sampler");
  }
  if (expert_parallel_) SY_RETURN_IF_ERROR(RanksStepping(ctx, 1, TokensIn(batch)).status());
  SY_RETURN_IF_ERROR(CheckBatch(batch, cache));
  return gpu_->ForwardSampled(ctx, batch, cache, draws);
}

absl::StatusOr<Tensor> MoeModel::ForwardBatch(ExecContext& ctx,
                                              std::span<const SequenceChunk> batch,
                                              PagedKvCache& cache) {
  if (expert_parallel_) SY_RETURN_IF_ERROR(RanksStepping(ctx, 1, TokensIn(batch)).status());
  SY_RETURN_IF_ERROR(CheckBatch(batch, cache));
  int64_t n = 0, rows_out = 0;
  for (const SequenceChunk& chunk : batch) {
    n += static_cast<int64_t>(chunk.tokens.size());
    rows_out += chunk.all_logits ? static_cast<int64_t>(chunk.tokens.size()) : 1;
  }
  if (gpu_) return gpu_->Forward(ctx, batch, cache);
  SY_ASSIGN_OR_RETURN(Tensor ids, Tensor::Empty({n}, DType::kI32));
  SY_ASSIGN_OR_RETURN(Tensor positions, Tensor::Empty({n}, DType::kI64));
  int64_t i = 0;
  for (const SequenceChunk& chunk : batch) {
    const int64_t start = *cache.Length(chunk.sequence, 0);
    for (size_t t = 0; t < chunk.tokens.size(); ++t, ++i) {
      ids.data<int32_t>()[i] = chunk.tokens[t];
      positions.data<int64_t>()[i] = start + static_cast<int64_t>(t);
    }
  }
  SY_ASSIGN_OR_RETURN(Tensor hidden, Embed(ids, embed_, ctx.num_threads()));
  for (size_t l = 0; l < layers_.size(); ++l) {
    SY_ASSIGN_OR_RETURN(hidden, RunLayer(ctx, *layers_[l], static_cast<int64_t>(l), hidden, ids,
                                         positions, batch, cache));
  }
  // Only the rows whose logits are wanted go through the norm and the LM head.
  SY_ASSIGN_OR_RETURN(Tensor wanted, Tensor::Empty({rows_out, hidden.dim(1)}, DType::kF32));
  const int64_t width = hidden.dim(1);
  int64_t row_in = 0, row_out = 0;
  for (const SequenceChunk& chunk : batch) {
    const int64_t len = static_cast<int64_t>(chunk.tokens.size());
    const int64_t first = chunk.all_logits ? row_in : row_in + len - 1;
    const int64_t count = chunk.all_logits ? len : 1;
    std::memcpy(wanted.data<float>() + row_out * width, hidden.data<float>() + first * width,
                count * width * sizeof(float));
    row_in += len;
    row_out += count;
  }
  SY_ASSIGN_OR_RETURN(Tensor normed,
                      RmsNorm(wanted, final_norm_, config_.rms_norm_eps, ctx.num_threads()));
  return MatMulTransposed(normed, lm_head_);
}

}  // namespace sy
