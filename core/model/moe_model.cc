#include "core/model/moe_model.h"

#include <cstring>

#include "absl/strings/str_cat.h"
#include "core/base/status.h"
#include "core/dense/attention.h"
#include "core/dense/embedding.h"
#include "core/dense/rms_norm.h"
#include "core/tensor/matmul.h"
#include "core/tensor/tensor_convert.h"

namespace sy {

struct MoeModel::Layer {
  Tensor input_norm, post_norm;
  Tensor q, k, v, o;
  std::optional<Tensor> q_bias, k_bias, v_bias, q_norm, k_norm;
  std::unique_ptr<MoeLayer> moe;  // or a dense MLP:
  Tensor mlp_gate, mlp_up, mlp_down;
};

namespace {

// A checkpoint tensor of `shape` as f32 (bf16 and f16 are converted; other types refused).
absl::StatusOr<Tensor> LoadF32(const Checkpoint& ckpt, const std::string& name,
                               const Shape& shape) {
  SY_ASSIGN_OR_RETURN(Tensor t, ckpt.Get(name));
  if (t.shape() != shape) {
    return absl::InvalidArgumentError(absl::StrCat(ckpt.dir(), ": tensor '", name, "' has shape ",
                                                   ShapeToString(t.shape()),
                                                   ", the config implies ", ShapeToString(shape)));
  }
  if (t.dtype() == DType::kF32) return t;
  if (t.dtype() != DType::kBF16 && t.dtype() != DType::kF16) {
    return absl::InvalidArgumentError(absl::StrCat(ckpt.dir(), ": tensor '", name, "' is ",
                                                   DTypeName(t.dtype()),
                                                   "; expected f32, bf16 or f16"));
  }
  return ConvertDType(t, DType::kF32);
}

absl::StatusOr<std::optional<Tensor>> LoadOptional(const Checkpoint& ckpt, bool present,
                                                   const std::string& name, const Shape& shape) {
  if (!present) return std::optional<Tensor>();
  SY_ASSIGN_OR_RETURN(Tensor t, LoadF32(ckpt, name, shape));
  return std::optional<Tensor>(std::move(t));
}

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

// y = x . W^T (+ bias)
absl::StatusOr<Tensor> Linear(const Tensor& x, const Tensor& w,
                              const std::optional<Tensor>& bias = std::nullopt) {
  SY_ASSIGN_OR_RETURN(Tensor y, MatMulTransposed(x, w));
  if (bias) {
    float* out = y.data<float>();
    const float* b = bias->data<float>();
    for (int64_t r = 0; r < y.dim(0); ++r) {
      for (int64_t c = 0; c < y.dim(1); ++c) out[r * y.dim(1) + c] += b[c];
    }
  }
  return y;
}

// The router each architecture uses: softmax top-k, renormalized as its config says.
ConfigTable RouterConfig(const ModelConfig& c) {
  const bool renormalize = c.architecture == Architecture::kMixtral || c.norm_topk_prob;
  return {{"k", {c.num_experts_per_tok}}, {"renormalize", {renormalize}}};
}

struct ExpertNames {
  std::string prefix, router, gate, up, down;
};

ExpertNames ExpertNaming(Architecture arch, int64_t layer) {
  const std::string base = absl::StrCat("model.layers.", layer, ".");
  if (arch == Architecture::kMixtral) return {base + "block_sparse_moe.", "gate", "w1", "w3", "w2"};
  return {base + "mlp.", "gate", "gate_proj", "up_proj", "down_proj"};
}

absl::StatusOr<MoeWeights> LoadMoeWeights(const Checkpoint& ckpt, const ModelConfig& c,
                                          int64_t layer) {
  const ExpertNames n = ExpertNaming(c.architecture, layer);
  const int64_t h = c.hidden_size, inter = c.expert_intermediate_size();
  MoeWeights w;
  SY_ASSIGN_OR_RETURN(w.router, LoadF32(ckpt, n.prefix + n.router + ".weight", {c.num_experts, h}));
  for (int64_t e = 0; e < c.num_experts; ++e) {
    const std::string expert = absl::StrCat(n.prefix, "experts.", e, ".");
    SY_ASSIGN_OR_RETURN(Tensor gate, LoadF32(ckpt, expert + n.gate + ".weight", {inter, h}));
    SY_ASSIGN_OR_RETURN(Tensor up, LoadF32(ckpt, expert + n.up + ".weight", {inter, h}));
    SY_ASSIGN_OR_RETURN(Tensor gate_up, StackRows(gate, up));
    SY_ASSIGN_OR_RETURN(Tensor down, LoadF32(ckpt, expert + n.down + ".weight", {h, inter}));
    w.gate_up.push_back(std::move(gate_up));
    w.down.push_back(std::move(down));
  }
  const int64_t shared = c.shared_expert_intermediate_size;
  if (shared > 0) {
    const std::string s = n.prefix + "shared_expert.";
    SY_ASSIGN_OR_RETURN(Tensor gate, LoadF32(ckpt, s + "gate_proj.weight", {shared, h}));
    SY_ASSIGN_OR_RETURN(Tensor up, LoadF32(ckpt, s + "up_proj.weight", {shared, h}));
    SY_ASSIGN_OR_RETURN(w.shared_gate_up, StackRows(gate, up));
    SY_ASSIGN_OR_RETURN(w.shared_down, LoadF32(ckpt, s + "down_proj.weight", {h, shared}));
    SY_ASSIGN_OR_RETURN(Tensor shared_gate,
                        LoadF32(ckpt, n.prefix + "shared_expert_gate.weight", {1, h}));
    SY_ASSIGN_OR_RETURN(w.shared_gate, shared_gate.Reshape({h}));
  }
  return w;
}

}  // namespace

MoeModel::MoeModel(ModelConfig config) : config_(std::move(config)) {}
MoeModel::~MoeModel() = default;

absl::StatusOr<std::unique_ptr<MoeModel>> MoeModel::Load(const Checkpoint& ckpt,
                                                         const ComponentRegistry& registry,
                                                         const ModelOptions& options,
                                                         ExecContext& ctx) {
  const ModelConfig& c = ckpt.config();
  std::unique_ptr<MoeModel> model(new MoeModel(c));
  const int64_t h = c.hidden_size, hd = c.head_dim, heads = c.num_attention_heads,
                kv = c.num_key_value_heads;
  model->rope_.head_dim = hd;
  model->rope_.theta = c.rope_theta;
  if (c.rope_scaling) {
    model->rope_.scaling_type = c.rope_scaling->type;
    model->rope_.factor = c.rope_scaling->factor;
  }
  SY_ASSIGN_OR_RETURN(model->embed_, LoadF32(ckpt, "model.embed_tokens.weight", {c.vocab_size, h}));
  SY_ASSIGN_OR_RETURN(model->final_norm_, LoadF32(ckpt, "model.norm.weight", {h}));
  if (c.tie_word_embeddings) {
    model->lm_head_ = model->embed_;
  } else {
    SY_ASSIGN_OR_RETURN(model->lm_head_, LoadF32(ckpt, "lm_head.weight", {c.vocab_size, h}));
  }

  const std::string router_name = options.router.empty() ? "router.softmax_topk" : options.router;
  SY_ASSIGN_OR_RETURN(RegisteredComponent router_found, registry.Find(router_name));
  ConfigValue router_config{RouterConfig(c)};
  if (options.router_config) {
    router_config = *options.router_config;
  } else if (router_name != "router.softmax_topk") {
    router_config = ConfigValue{ConfigTable{{"k", ConfigValue{c.num_experts_per_tok}}}};
  }
  SY_ASSIGN_OR_RETURN(RegisteredComponent experts_found, registry.Find(options.experts));
  std::optional<RegisteredComponent> quantizer_found;
  if (!options.quantizer.empty()) {
    SY_ASSIGN_OR_RETURN(quantizer_found, registry.Find(options.quantizer));
  }
  const bool per_head = c.qk_norm == QkNorm::kPerHead;
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
    auto layer = std::make_unique<Layer>();
    const std::string p = absl::StrCat("model.layers.", i, ".");
    SY_ASSIGN_OR_RETURN(layer->input_norm, LoadF32(ckpt, p + "input_layernorm.weight", {h}));
    SY_ASSIGN_OR_RETURN(layer->post_norm,
                        LoadF32(ckpt, p + "post_attention_layernorm.weight", {h}));
    SY_ASSIGN_OR_RETURN(layer->q, LoadF32(ckpt, p + "self_attn.q_proj.weight", {heads * hd, h}));
    SY_ASSIGN_OR_RETURN(layer->k, LoadF32(ckpt, p + "self_attn.k_proj.weight", {kv * hd, h}));
    SY_ASSIGN_OR_RETURN(layer->v, LoadF32(ckpt, p + "self_attn.v_proj.weight", {kv * hd, h}));
    SY_ASSIGN_OR_RETURN(layer->o, LoadF32(ckpt, p + "self_attn.o_proj.weight", {h, heads * hd}));
    SY_ASSIGN_OR_RETURN(layer->q_bias, LoadOptional(ckpt, c.attention_bias,
                                                    p + "self_attn.q_proj.bias", {heads * hd}));
    SY_ASSIGN_OR_RETURN(layer->k_bias, LoadOptional(ckpt, c.attention_bias,
                                                    p + "self_attn.k_proj.bias", {kv * hd}));
    SY_ASSIGN_OR_RETURN(layer->v_bias, LoadOptional(ckpt, c.attention_bias,
                                                    p + "self_attn.v_proj.bias", {kv * hd}));
    const bool qk = c.qk_norm != QkNorm::kNone;
    SY_ASSIGN_OR_RETURN(layer->q_norm, LoadOptional(ckpt, qk, p + "self_attn.q_norm.weight",
                                                    {per_head ? hd : heads * hd}));
    SY_ASSIGN_OR_RETURN(layer->k_norm, LoadOptional(ckpt, qk, p + "self_attn.k_norm.weight",
                                                    {per_head ? hd : kv * hd}));
    if (c.IsMoeLayer(i)) {
      SY_ASSIGN_OR_RETURN(MoeWeights weights, LoadMoeWeights(ckpt, c, i));
      SY_ASSIGN_OR_RETURN(auto router_component, Component::Create(router_found, router_config));
      SY_ASSIGN_OR_RETURN(Router router, Router::From(router_component));
      SY_ASSIGN_OR_RETURN(auto experts_component, Component::Create(experts_found, {}));
      SY_ASSIGN_OR_RETURN(Experts experts, Experts::From(experts_component));
      std::optional<Quantizer> quantizer;
      if (quantizer_found) {
        SY_ASSIGN_OR_RETURN(auto q, Component::Create(*quantizer_found, {}));
        SY_ASSIGN_OR_RETURN(quantizer, Quantizer::From(q));
      }
      MoeLayerOptions layer_options;
      layer_options.layer = static_cast<int>(i);
      layer_options.capacity = options.capacity;
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

KvCacheShape MoeModel::CacheShape(int64_t num_blocks, int64_t block_size) const {
  KvCacheShape s;
  s.num_layers = config_.num_hidden_layers;
  s.num_blocks = num_blocks;
  s.block_size = block_size;
  s.kv_heads = config_.num_key_value_heads;
  s.head_dim = config_.head_dim;
  return s;
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

absl::StatusOr<Tensor> MoeModel::RunLayer(ExecContext& ctx, Layer& layer, int64_t index,
                                          const Tensor& hidden, const Tensor& token_ids,
                                          const Tensor& positions,
                                          std::span<const SequenceChunk> batch,
                                          PagedKvCache& cache) {
  const ModelConfig& c = config_;
  const int threads = ctx.num_threads();
  const int64_t heads = c.num_attention_heads, kv = c.num_key_value_heads;
  SY_ASSIGN_OR_RETURN(Tensor x, RmsNorm(hidden, layer.input_norm, c.rms_norm_eps, threads));
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
  SY_ASSIGN_OR_RETURN(Tensor o, Linear(a, layer.o));
  SY_ASSIGN_OR_RETURN(Tensor h, hidden.Clone());
  AddInPlace(h, o);

  SY_ASSIGN_OR_RETURN(Tensor y, RmsNorm(h, layer.post_norm, c.rms_norm_eps, threads));
  Tensor mlp;
  if (layer.moe) {
    SY_ASSIGN_OR_RETURN(mlp, layer.moe->Forward(ctx, y, token_ids));
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

absl::StatusOr<Tensor> MoeModel::ForwardBatch(ExecContext& ctx,
                                              std::span<const SequenceChunk> batch,
                                              PagedKvCache& cache) {
  int64_t n = 0, rows_out = 0;
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
    n += static_cast<int64_t>(chunk.tokens.size());
    rows_out += chunk.all_logits ? static_cast<int64_t>(chunk.tokens.size()) : 1;
  }
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
