#include "core/model/model_writer.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <utility>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "core/base/status.h"
#include "core/model/deepseek_v3_writer.h"
#include "core/model/gpt_oss_writer.h"
#include "core/model/safetensors_writer.h"
#include "core/tensor/tensor_convert.h"
#include "core/tensor/tensor_random.h"
#include "core/tokenizer/pre_tokenizer.h"
#include "core/tokenizer/utf8.h"

namespace sy {
namespace {

using Json = nlohmann::json;

// Special tokens by family, placed at the end of the vocabulary as the real checkpoints pad
// theirs; bos/eos/pad index into `specials` (-1: none).
struct Family {
  Architecture arch;
  const char* model_type;
  std::vector<std::string> specials;
  int bos, eos, pad;
};

const std::vector<Family>& Families() {
  static const std::vector<Family> families = {
      {Architecture::kMixtral, "mixtral", {"<unk>", "<s>", "</s>"}, 1, 2, -1},
      {Architecture::kQwen2Moe,
       "qwen2_moe",
       {"<|endoftext|>", "<|im_start|>", "<|im_end|>"},
       0,
       0,
       -1},
      {Architecture::kQwen3Moe,
       "qwen3_moe",
       {"<|endoftext|>", "<|im_start|>", "<|im_end|>"},
       0,
       0,
       -1},
      {Architecture::kOlmoe, "olmoe", {"<|endoftext|>", "<|padding|>"}, -1, 0, 1},
      {Architecture::kDeepseekV3,
       "deepseek_v3",
       {"<|begin_of_sentence|>", "<|end_of_sentence|>"},
       0,
       1,
       -1},
      {Architecture::kGptOss, "gpt_oss", {"<|endoftext|>", "<|return|>"}, -1, 1, 0},
  };
  return families;
}

const Family& FamilyOf(Architecture arch) {
  for (const Family& f : Families()) {
    if (f.arch == arch) return f;
  }
  return Families()[0];
}

// The id of special token `index` (-1: none), or JSON null.
Json SpecialId(const ModelSpec& spec, int index) {
  if (index < 0) return nullptr;
  return spec.vocab - static_cast<int64_t>(FamilyOf(spec.arch).specials.size()) + index;
}

bool IsQwen(Architecture arch) {
  return arch == Architecture::kQwen2Moe || arch == Architecture::kQwen3Moe;
}

bool IsMoeLayer(const ModelSpec& spec, int64_t layer) {
  return !IsQwen(spec.arch) || std::find(spec.mlp_only_layers.begin(), spec.mlp_only_layers.end(),
                                         layer) == spec.mlp_only_layers.end();
}

// ---- config.json and generation_config.json ----

// Keys every one of the four config classes has.
Json CommonConfig(const ModelSpec& spec) {
  const Family& family = FamilyOf(spec.arch);
  return {{"architectures", Json::array({ArchitectureName(spec.arch)})},
          {"model_type", family.model_type},
          {"vocab_size", spec.vocab},
          {"hidden_size", spec.hidden},
          {"intermediate_size", IsQwen(spec.arch) ? spec.dense_intermediate : spec.intermediate},
          {"num_hidden_layers", spec.layers},
          {"num_attention_heads", spec.heads},
          {"num_key_value_heads", spec.kv_heads},
          {"num_experts_per_tok", spec.top_k},
          {"hidden_act", "silu"},
          {"max_position_embeddings", spec.max_position_embeddings},
          {"initializer_range", spec.init_std},
          {"rms_norm_eps", spec.rms_norm_eps},
          {"rope_theta", spec.rope_theta},
          {"attention_dropout", 0.0},
          {"use_cache", true},
          {"tie_word_embeddings", spec.tie_embeddings},
          {"output_router_logits", false},
          {"bos_token_id", SpecialId(spec, family.bos)},
          {"eos_token_id", SpecialId(spec, family.eos)},
          {"torch_dtype", spec.dtype == DType::kBF16 ? "bfloat16" : "float32"}};
}

void AddQwenFields(const ModelSpec& spec, Json& config) {
  config["num_experts"] = spec.experts;
  config["moe_intermediate_size"] = spec.intermediate;
  config["decoder_sparse_step"] = 1;
  config["mlp_only_layers"] = spec.mlp_only_layers;
  config["norm_topk_prob"] = spec.arch == Architecture::kQwen3Moe;
  config["use_sliding_window"] = false;
  config["sliding_window"] = nullptr;
  config["max_window_layers"] = spec.layers;
  config["rope_scaling"] = nullptr;
  config["router_aux_loss_coef"] = 0.001;
  if (spec.arch == Architecture::kQwen2Moe) {
    config["shared_expert_intermediate_size"] = spec.shared_intermediate;
  } else {
    config["head_dim"] = spec.resolved_head_dim();
    config["attention_bias"] = false;
  }
}

Json ConfigJson(const ModelSpec& spec) {
  Json config = CommonConfig(spec);
  switch (spec.arch) {
    case Architecture::kMixtral:
      config["num_local_experts"] = spec.experts;
      config["head_dim"] = spec.resolved_head_dim();
      config["sliding_window"] = nullptr;
      config["router_aux_loss_coef"] = 0.001;
      config["router_jitter_noise"] = 0.0;
      break;
    case Architecture::kQwen2Moe:
    case Architecture::kQwen3Moe:
      AddQwenFields(spec, config);
      break;
    case Architecture::kOlmoe:
      config["num_experts"] = spec.experts;
      config["norm_topk_prob"] = false;
      config["clip_qkv"] = nullptr;
      config["attention_bias"] = false;
      config["rope_scaling"] = nullptr;
      config["router_aux_loss_coef"] = 0.01;
      config["pad_token_id"] = SpecialId(spec, FamilyOf(spec.arch).pad);
      break;
    case Architecture::kDeepseekV3:
      AddDeepseekV3Config(spec, config);
      break;
    case Architecture::kGptOss:
      AddGptOssConfig(spec, config);
      config["pad_token_id"] = SpecialId(spec, FamilyOf(spec.arch).pad);
      break;
  }
  return config;
}

Json GenerationConfigJson(const ModelSpec& spec) {
  const Family& family = FamilyOf(spec.arch);
  Json config = {{"_from_model_config", true}, {"eos_token_id", SpecialId(spec, family.eos)}};
  if (family.bos >= 0) config["bos_token_id"] = SpecialId(spec, family.bos);
  if (family.pad >= 0) config["pad_token_id"] = SpecialId(spec, family.pad);
  return config;
}

// ---- tokenizer.json ----

// The text the BPE merges are learned from: plain English, so that common words and
// suffixes become single tokens as in a real tokenizer.
constexpr char kSampleText[] =
    "The quick brown fox jumps over the lazy dog. A mixture of experts model routes each token "
    "to a few of its experts, and the router learns which experts are best for which tokens. "
    "When the model is large, the experts are spread over many devices, and the tokens travel "
    "between them. This is the work of the switchyard: it moves the tokens to the experts and "
    "brings the results back, in the right order, as fast as the hardware allows.\n"
    "There was once a small town by the sea, where the people worked in the harbor and the "
    "children played on the beach. Every morning the boats went out, and every evening they "
    "came back with fish, and the market was full of voices. The old lighthouse stood at the "
    "end of the harbor, and its light turned through the night so that the ships could find "
    "their way home.\n"
    "Reading and writing are the oldest technologies for thinking. We write things down so "
    "that we can remember them, and we read what others have written so that we can learn "
    "from them. A good sentence is clear and simple; a good paragraph has one idea and "
    "explains it well. Writing is rewriting: the first draft is only the beginning.\n"
    "In the garden there are roses, tulips and sunflowers, and in the summer the bees are "
    "busy from morning to evening. The weather is warm, the days are long, and the evenings "
    "are quiet. In the winter the garden sleeps under the snow, waiting for the spring.\n"
    "Computers count in ones and zeros, but people count in tens. The numbers 1, 2, 3 and "
    "100 are written the same way in many languages. What is the answer? It is 42, of course, "
    "or so they say in the books.\n";

// GPT-2's bytes_to_unicode: printable bytes stand for themselves, the others for U+0100 on.
std::vector<std::string> ByteSymbols() {
  std::vector<std::string> symbols(256);
  char32_t next = 256;
  for (int b = 0; b < 256; ++b) {
    const bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174;
    AppendUtf8(printable ? static_cast<char32_t>(b) : next++, symbols[b]);
  }
  return symbols;
}

// The sample's words (GPT-2 pre-tokenization) as byte symbols, with their counts.
std::map<std::vector<std::string>, int64_t> SampleWords(const std::vector<std::string>& bytes) {
  const std::string text = kSampleText;
  const std::vector<char32_t> code_points(text.begin(), text.end());  // the sample is ASCII
  std::map<std::vector<std::string>, int64_t> words;
  size_t start = 0;
  for (size_t end : SplitByPattern(SplitPattern::kGpt2, code_points)) {
    std::vector<std::string> word;
    for (size_t i = start; i < end; ++i) word.push_back(bytes[static_cast<uint8_t>(text[i])]);
    ++words[word];
    start = end;
  }
  return words;
}

// The most frequent adjacent pair (ties: the smallest), or nullopt when every word is one
// symbol. Pairs seen once merge too, as with HF's trainer by default, so that the sample fills
// a realistic share of the vocabulary.
std::optional<std::pair<std::string, std::string>> BestPair(
    const std::map<std::vector<std::string>, int64_t>& words) {
  std::map<std::pair<std::string, std::string>, int64_t> counts;
  for (const auto& [word, count] : words) {
    for (size_t i = 0; i + 1 < word.size(); ++i) counts[{word[i], word[i + 1]}] += count;
  }
  std::optional<std::pair<std::string, std::string>> best;
  int64_t best_count = 0;
  for (const auto& [pair, count] : counts) {
    if (count > best_count) best = pair, best_count = count;
  }
  return best;
}

std::vector<std::string> ApplyMerge(const std::vector<std::string>& word,
                                    const std::pair<std::string, std::string>& merge) {
  std::vector<std::string> merged;
  for (size_t i = 0; i < word.size(); ++i) {
    if (i + 1 < word.size() && word[i] == merge.first && word[i + 1] == merge.second) {
      merged.push_back(word[i] + word[i + 1]);
      ++i;
    } else {
      merged.push_back(word[i]);
    }
  }
  return merged;
}

// A tiny BPE trainer: up to `limit` merges, most frequent pair first, as HF's trainer does.
std::vector<std::pair<std::string, std::string>> LearnMerges(const std::vector<std::string>& bytes,
                                                             int64_t limit) {
  auto words = SampleWords(bytes);
  std::vector<std::pair<std::string, std::string>> merges;
  while (static_cast<int64_t>(merges.size()) < limit) {
    const auto best = BestPair(words);
    if (!best) break;
    std::map<std::vector<std::string>, int64_t> next;
    for (const auto& [word, count] : words) next[ApplyMerge(word, *best)] += count;
    words = std::move(next);
    merges.push_back(*best);
  }
  return merges;
}

Json ByteLevelStep() {
  return {{"type", "ByteLevel"},
          {"add_prefix_space", false},
          {"trim_offsets", true},
          {"use_regex", true}};
}

// Mixtral's tokenizer prepends <s>; the others add nothing.
Json PostProcessor(const ModelSpec& spec) {
  const Family& family = FamilyOf(spec.arch);
  if (spec.arch != Architecture::kMixtral) return ByteLevelStep();
  const std::string& bos = family.specials[family.bos];
  const Json single = Json::array({{{"SpecialToken", {{"id", bos}, {"type_id", 0}}}},
                                   {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}});
  const Json bos_entry = {{"id", bos},
                          {"ids", Json::array({SpecialId(spec, family.bos)})},
                          {"tokens", Json::array({bos})}};
  return {{"type", "TemplateProcessing"},
          {"single", single},
          {"pair", Json::array()},
          {"special_tokens", {{bos, bos_entry}}}};
}

Json TokenizerJson(const ModelSpec& spec) {
  const Family& family = FamilyOf(spec.arch);
  const int64_t first_special = spec.vocab - static_cast<int64_t>(family.specials.size());
  const std::vector<std::string> bytes = ByteSymbols();
  Json vocab = Json::object();
  for (int b = 0; b < 256; ++b) vocab[bytes[b]] = b;
  Json merges = Json::array();
  int64_t next_id = 256;
  for (const auto& [left, right] : LearnMerges(bytes, first_special - 256)) {
    // Two merges may build the same string ("ab"+"c", "a"+"bc"); it keeps its first id.
    if (!vocab.contains(left + right)) vocab[left + right] = next_id++;
    merges.push_back(Json::array({left, right}));
  }
  Json added = Json::array();
  for (size_t i = 0; i < family.specials.size(); ++i) {
    added.push_back({{"id", first_special + static_cast<int64_t>(i)},
                     {"content", family.specials[i]},
                     {"single_word", false},
                     {"lstrip", false},
                     {"rstrip", false},
                     {"normalized", false},
                     {"special", true}});
  }
  Json model = {{"type", "BPE"},
                {"dropout", nullptr},
                {"unk_token", nullptr},
                {"fuse_unk", false},
                {"byte_fallback", false},
                {"ignore_merges", false},
                {"vocab", vocab},
                {"merges", merges},
                {"continuing_subword_prefix", nullptr},
                {"end_of_word_suffix", nullptr}};
  return {{"version", "1.0"},
          {"truncation", nullptr},
          {"padding", nullptr},
          {"added_tokens", added},
          {"normalizer", nullptr},
          {"pre_tokenizer", ByteLevelStep()},
          {"post_processor", PostProcessor(spec)},
          {"decoder", ByteLevelStep()},
          {"model", model}};
}

// ---- tensor layout ----

void AddMlp(const std::string& prefix, int64_t hidden, int64_t width,
            std::vector<TensorLayout>& out) {
  out.push_back({prefix + ".gate_proj.weight", {width, hidden}, false});
  out.push_back({prefix + ".up_proj.weight", {width, hidden}, false});
  out.push_back({prefix + ".down_proj.weight", {hidden, width}, false});
}

void AddAttention(const ModelSpec& spec, const std::string& prefix,
                  std::vector<TensorLayout>& out) {
  const int64_t hd = spec.resolved_head_dim(), q = spec.heads * hd, kv = spec.kv_heads * hd;
  out.push_back({prefix + ".q_proj.weight", {q, spec.hidden}, false});
  out.push_back({prefix + ".k_proj.weight", {kv, spec.hidden}, false});
  out.push_back({prefix + ".v_proj.weight", {kv, spec.hidden}, false});
  out.push_back({prefix + ".o_proj.weight", {spec.hidden, q}, false});
  if (spec.arch == Architecture::kQwen2Moe) {
    out.push_back({prefix + ".q_proj.bias", {q}, false});
    out.push_back({prefix + ".k_proj.bias", {kv}, false});
    out.push_back({prefix + ".v_proj.bias", {kv}, false});
  }
  // Qwen3-MoE normalizes each head, OLMoE the whole projection.
  if (spec.arch == Architecture::kQwen3Moe) {
    out.push_back({prefix + ".q_norm.weight", {hd}, true});
    out.push_back({prefix + ".k_norm.weight", {hd}, true});
  } else if (spec.arch == Architecture::kOlmoe) {
    out.push_back({prefix + ".q_norm.weight", {q}, true});
    out.push_back({prefix + ".k_norm.weight", {kv}, true});
  }
}

void AddMixtralMoe(const ModelSpec& spec, const std::string& prefix,
                   std::vector<TensorLayout>& out) {
  const int64_t h = spec.hidden, i = spec.intermediate;
  out.push_back({prefix + ".gate.weight", {spec.experts, h}, false});
  for (int64_t e = 0; e < spec.experts; ++e) {
    const std::string expert = absl::StrCat(prefix, ".experts.", e);
    out.push_back({expert + ".w1.weight", {i, h}, false});
    out.push_back({expert + ".w2.weight", {h, i}, false});
    out.push_back({expert + ".w3.weight", {i, h}, false});
  }
}

void AddFfn(const ModelSpec& spec, int64_t layer, const std::string& prefix,
            std::vector<TensorLayout>& out) {
  if (spec.arch == Architecture::kMixtral)
    return AddMixtralMoe(spec, prefix + ".block_sparse_moe", out);
  const std::string mlp = prefix + ".mlp";
  if (!IsMoeLayer(spec, layer)) return AddMlp(mlp, spec.hidden, spec.dense_intermediate, out);
  out.push_back({mlp + ".gate.weight", {spec.experts, spec.hidden}, false});
  for (int64_t e = 0; e < spec.experts; ++e) {
    AddMlp(absl::StrCat(mlp, ".experts.", e), spec.hidden, spec.intermediate, out);
  }
  if (spec.arch == Architecture::kQwen2Moe) {
    AddMlp(mlp + ".shared_expert", spec.hidden, spec.shared_intermediate, out);
    out.push_back({mlp + ".shared_expert_gate.weight", {1, spec.hidden}, false});
  }
}

// ---- writing ----

absl::Status WriteJson(const std::string& path, const Json& json, WrittenFile& file) {
  const std::string text = json.dump(2) + "\n";
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(text.data(), static_cast<std::streamsize>(text.size()));
  if (!out.good()) return absl::InternalError(absl::StrCat(path, ": write failed"));
  file.bytes = static_cast<int64_t>(text.size());
  return absl::OkStatus();
}

// Start index of each shard (plus the end), splitting the bytes evenly while giving every
// shard at least one tensor.
std::vector<size_t> ShardStarts(const std::vector<TensorLayout>& tensors, const ModelSpec& spec) {
  std::vector<int64_t> prefix = {0};
  for (const TensorLayout& t : tensors)
    prefix.push_back(prefix.back() + DTypeBytes(spec.dtype, NumElements(t.shape)));
  const size_t n = tensors.size(), shards = static_cast<size_t>(spec.shards);
  std::vector<size_t> starts = {0};
  for (size_t s = 1; s < shards; ++s) {
    const int64_t target = prefix.back() * static_cast<int64_t>(s) / spec.shards;
    const size_t at = std::lower_bound(prefix.begin(), prefix.end(), target) - prefix.begin();
    starts.push_back(std::clamp(at, starts.back() + 1, n - (shards - s)));
  }
  starts.push_back(n);
  return starts;
}

std::string ShardName(const ModelSpec& spec, int64_t shard) {
  if (spec.shards == 1) return "model.safetensors";
  return absl::StrFormat("model-%05d-of-%05d.safetensors", shard + 1, spec.shards);
}

absl::StatusOr<Tensor> InitTensor(const ModelSpec& spec, const TensorLayout& t, size_t index) {
  // Each tensor gets its own stream, so sharding does not change the values.
  const uint64_t seed = spec.seed ^ ((index + 1) * 0x9e3779b97f4a7c15ull);
  return t.norm ? RandomNormal(t.shape, seed, 1.0f, 0.0f, spec.dtype)
                : RandomNormal(t.shape, seed, 0.0f, static_cast<float>(spec.init_std), spec.dtype);
}

absl::Status WriteShards(const ModelSpec& spec, const std::string& dir,
                         std::vector<WrittenFile>& files) {
  const std::vector<TensorLayout> layout = ModelTensors(spec);
  const std::vector<size_t> starts = ShardStarts(layout, spec);
  Json weight_map = Json::object();
  int64_t total = 0;
  for (int64_t s = 0; s < spec.shards; ++s) {
    WrittenFile file{ShardName(spec, s)};
    std::vector<NamedTensor> tensors;  // one shard in memory at a time
    for (size_t i = starts[s]; i < starts[s + 1]; ++i) {
      SY_ASSIGN_OR_RETURN(Tensor t, InitTensor(spec, layout[i], i));
      file.parameters += t.numel();
      if (spec.mxfp4 && IsMxfp4Tensor(layout[i].name)) {
        SY_ASSIGN_OR_RETURN(Tensor f32, ConvertDType(t, DType::kF32));
        SY_ASSIGN_OR_RETURN(auto packed, QuantizeMxfp4(f32));
        const std::string blocks = layout[i].name + "_blocks", scales = layout[i].name + "_scales";
        total += packed.first.nbytes() + packed.second.nbytes();
        weight_map[blocks] = file.name;
        weight_map[scales] = file.name;
        tensors.push_back({blocks, std::move(packed.first)});
        tensors.push_back({scales, std::move(packed.second)});
        continue;
      }
      if (spec.fp8 && IsFp8Weight(layout[i].name)) {
        SY_ASSIGN_OR_RETURN(Tensor f32, ConvertDType(t, DType::kF32));
        SY_ASSIGN_OR_RETURN(auto quantized, QuantizeFp8Blocks(f32));
        const std::string scale_name = layout[i].name + "_scale_inv";
        total += quantized.first.nbytes() + quantized.second.nbytes();
        weight_map[layout[i].name] = file.name;
        weight_map[scale_name] = file.name;
        tensors.push_back({layout[i].name, std::move(quantized.first)});
        tensors.push_back({scale_name, std::move(quantized.second)});
        continue;
      }
      total += t.nbytes();
      weight_map[layout[i].name] = file.name;
      tensors.push_back({layout[i].name, std::move(t)});
    }
    file.tensors = static_cast<int64_t>(tensors.size());
    const std::string path = dir + "/" + file.name;
    SY_RETURN_IF_ERROR(WriteSafetensors(path, tensors, {{"format", "pt"}}));
    file.bytes = static_cast<int64_t>(std::filesystem::file_size(path));
    files.push_back(file);
  }
  if (spec.shards == 1) return absl::OkStatus();
  WrittenFile index{"model.safetensors.index.json"};
  SY_RETURN_IF_ERROR(WriteJson(dir + "/" + index.name,
                               {{"metadata", {{"total_size", total}}}, {"weight_map", weight_map}},
                               index));
  files.push_back(index);
  return absl::OkStatus();
}

absl::Status PrepareDirectory(const std::string& dir) {
  std::error_code error;
  std::filesystem::create_directories(dir, error);
  if (error) return absl::InternalError(absl::StrCat(dir, ": ", error.message()));
  if (!std::filesystem::is_empty(dir, error) || error) {
    return absl::FailedPreconditionError(
        absl::StrCat(dir, ": not an empty directory", error ? ": " + error.message() : ""));
  }
  return absl::OkStatus();
}

absl::Status Positive(const char* field, int64_t value) {
  if (value > 0) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(field, " must be positive, got ", value));
}

absl::Status Invalid(const char* field, const std::string& what) {
  return absl::InvalidArgumentError(absl::StrCat(field, " ", what));
}

absl::Status ValidateAttention(const ModelSpec& spec) {
  if (spec.heads % spec.kv_heads != 0) {
    return Invalid("kv_heads",
                   absl::StrCat("(", spec.kv_heads, ") must divide heads (", spec.heads, ")"));
  }
  if (spec.head_dim == 0 && spec.hidden % spec.heads != 0) {
    return Invalid("hidden", absl::StrCat("(", spec.hidden, ") is not a multiple of heads (",
                                          spec.heads, ") and head_dim is not given"));
  }
  // Their config classes have no head_dim field: transformers derives it.
  const bool derived = spec.arch == Architecture::kQwen2Moe || spec.arch == Architecture::kOlmoe;
  if (derived && spec.head_dim != 0 && spec.head_dim != spec.hidden / spec.heads) {
    return Invalid("head_dim", absl::StrCat("must be hidden / heads (", spec.hidden / spec.heads,
                                            ") for ", ModelType(spec.arch)));
  }
  return absl::OkStatus();
}

}  // namespace

std::vector<std::string> PresetNames() {
  return {"tiny-mixtral", "tiny-qwen2-moe",   "tiny-qwen3-moe",
          "tiny-olmoe",   "tiny-deepseek-v3", "tiny-gpt-oss"};
}

ModelSpec DefaultPreset(Architecture arch) {
  ModelSpec spec;
  spec.arch = arch;
  switch (arch) {
    case Architecture::kMixtral:
      spec.rope_theta = 1e6;
      spec.rms_norm_eps = 1e-5;
      break;
    case Architecture::kQwen2Moe:
      spec.intermediate = 32;
      spec.shared_intermediate = 128;
      spec.dense_intermediate = 128;
      spec.rope_theta = 1e6;
      break;
    case Architecture::kQwen3Moe:
      spec.intermediate = 32;
      spec.dense_intermediate = 128;
      spec.head_dim = 32;  // wider than hidden / heads, as in the real Qwen3-MoE models
      spec.rope_theta = 1e6;
      break;
    case Architecture::kOlmoe:
      spec.intermediate = 32;
      spec.rms_norm_eps = 1e-5;
      break;
    case Architecture::kDeepseekV3:
      spec.layers = 3;
      spec.intermediate = 32;
      spec.dense_intermediate = 128;
      spec.kv_heads = spec.heads;
      spec.q_lora_rank = 32;
      spec.n_group = 4;
      spec.topk_group = 2;
      spec.first_k_dense_replace = 1;
      spec.routed_scaling_factor = 2.5;
      spec.yarn_factor = 4;
      break;
    case Architecture::kGptOss:
      spec.intermediate = 32;
      spec.rope_theta = 150000;
      spec.rms_norm_eps = 1e-5;
      break;
  }
  return spec;
}

absl::StatusOr<ModelSpec> Preset(absl::string_view name) {
  const std::vector<std::string> names = PresetNames();
  for (size_t i = 0; i < names.size(); ++i) {
    if (name == names[i]) return DefaultPreset(Families()[i].arch);
  }
  return absl::NotFoundError(
      absl::StrCat("unknown preset '", name, "' (", absl::StrJoin(names, ", "), ")"));
}

const char* ModelType(Architecture arch) { return FamilyOf(arch).model_type; }

absl::StatusOr<Architecture> ArchitectureFromModelType(absl::string_view model_type) {
  std::string known;
  for (const Family& f : Families()) {
    if (model_type == f.model_type) return f.arch;
    absl::StrAppend(&known, known.empty() ? "" : ", ", f.model_type);
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown architecture '", model_type, "' (", known, ")"));
}

absl::Status ValidateModelSpec(const ModelSpec& spec) {
  const std::pair<const char*, int64_t> sizes[] = {
      {"layers", spec.layers},
      {"hidden", spec.hidden},
      {"intermediate", spec.intermediate},
      {"experts", spec.experts},
      {"top_k", spec.top_k},
      {"heads", spec.heads},
      {"kv_heads", spec.kv_heads},
      {"shards", spec.shards},
      {"max_position_embeddings", spec.max_position_embeddings}};
  for (const auto& [field, value] : sizes) SY_RETURN_IF_ERROR(Positive(field, value));
  if (IsQwen(spec.arch))
    SY_RETURN_IF_ERROR(Positive("dense_intermediate", spec.dense_intermediate));
  if (spec.arch == Architecture::kDeepseekV3) SY_RETURN_IF_ERROR(ValidateDeepseekV3Spec(spec));
  if (spec.fp8 && spec.arch != Architecture::kDeepseekV3) {
    return Invalid("fp8", "weights are written for deepseek_v3 only");
  }
  if (spec.arch == Architecture::kGptOss) SY_RETURN_IF_ERROR(ValidateGptOssSpec(spec));
  if (spec.mxfp4 && spec.arch != Architecture::kGptOss) {
    return Invalid("mxfp4", "experts are written for gpt_oss only");
  }
  if (spec.arch == Architecture::kQwen2Moe) {
    SY_RETURN_IF_ERROR(Positive("shared_intermediate", spec.shared_intermediate));
  }
  if (spec.top_k > spec.experts) {
    return Invalid("top_k",
                   absl::StrCat("(", spec.top_k, ") exceeds experts (", spec.experts, ")"));
  }
  SY_RETURN_IF_ERROR(ValidateAttention(spec));
  const int64_t min_vocab = 256 + static_cast<int64_t>(FamilyOf(spec.arch).specials.size());
  if (spec.vocab < min_vocab) {
    return Invalid("vocab", absl::StrCat("(", spec.vocab, ") must be at least ", min_vocab,
                                         ": 256 byte tokens and the special tokens"));
  }
  for (int64_t layer : spec.mlp_only_layers) {
    if (layer < 0 || layer >= spec.layers) {
      return Invalid("mlp_only_layers", absl::StrCat("names layer ", layer, " of ", spec.layers));
    }
  }
  if (spec.dtype != DType::kF32 && spec.dtype != DType::kBF16) {
    return Invalid("dtype", absl::StrCat("must be f32 or bf16, got ", DTypeName(spec.dtype)));
  }
  if (spec.shards > static_cast<int64_t>(ModelTensors(spec).size())) {
    return Invalid("shards", absl::StrCat("(", spec.shards, ") exceeds the number of tensors"));
  }
  return absl::OkStatus();
}

std::vector<TensorLayout> ModelTensors(const ModelSpec& spec) {
  std::vector<TensorLayout> out;
  out.push_back({"model.embed_tokens.weight", {spec.vocab, spec.hidden}, false});
  for (int64_t layer = 0; layer < spec.layers; ++layer) {
    const std::string prefix = absl::StrCat("model.layers.", layer);
    out.push_back({prefix + ".input_layernorm.weight", {spec.hidden}, true});
    if (spec.arch == Architecture::kDeepseekV3) {
      AddDeepseekV3Layer(spec, layer, prefix, out);
      continue;
    }
    if (spec.arch == Architecture::kGptOss) {
      AddGptOssLayer(spec, prefix, out);
      continue;
    }
    AddAttention(spec, prefix + ".self_attn", out);
    out.push_back({prefix + ".post_attention_layernorm.weight", {spec.hidden}, true});
    AddFfn(spec, layer, prefix, out);
  }
  out.push_back({"model.norm.weight", {spec.hidden}, true});
  if (!spec.tie_embeddings) out.push_back({"lm_head.weight", {spec.vocab, spec.hidden}, false});
  return out;
}

absl::StatusOr<std::vector<WrittenFile>> WriteModel(const ModelSpec& spec, const std::string& dir) {
  SY_RETURN_IF_ERROR(ValidateModelSpec(spec));
  SY_RETURN_IF_ERROR(PrepareDirectory(dir));
  std::vector<WrittenFile> files;
  const std::pair<const char*, Json> documents[] = {
      {"config.json", ConfigJson(spec)},
      {"generation_config.json", GenerationConfigJson(spec)},
      {"tokenizer.json", TokenizerJson(spec)}};
  for (const auto& [name, json] : documents) {
    WrittenFile file{name};
    SY_RETURN_IF_ERROR(WriteJson(dir + "/" + name, json, file));
    files.push_back(file);
  }
  SY_RETURN_IF_ERROR(WriteShards(spec, dir, files));
  return files;
}

}  // namespace sy
