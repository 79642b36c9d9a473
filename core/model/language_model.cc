#include "core/model/language_model.h"

#include <filesystem>

#include "absl/strings/str_split.h"
#include "core/base/status.h"

namespace sy {

absl::StatusOr<std::unique_ptr<LanguageModel>> LanguageModel::Load(
    const std::string& dir, const ComponentRegistry& registry, const ModelOptions& options,
    ExecContext& ctx) {
  SY_ASSIGN_OR_RETURN(Checkpoint checkpoint, Checkpoint::Open(dir));
  SY_ASSIGN_OR_RETURN(BpeTokenizer tokenizer, BpeTokenizer::FromFile(dir + "/tokenizer.json"));
  SY_ASSIGN_OR_RETURN(std::unique_ptr<MoeModel> network,
                      MoeModel::Load(checkpoint, registry, options, ctx));
  // "dir", "dir/" and "." all name the folder itself.
  std::filesystem::path folder = std::filesystem::absolute(dir).lexically_normal();
  if (!folder.has_filename()) folder = folder.parent_path();
  return std::make_unique<LanguageModel>(LanguageModel{
      .name = folder.filename().string(),
      .network = std::move(network),
      .tokenizer = std::move(tokenizer),
      .model_type = checkpoint.config_json().value("model_type", ""),
      .eos_ids = checkpoint.config().eos_token_ids,
      .expert_parallel = options.expert_parallel,
  });
}

absl::StatusOr<std::unique_ptr<LanguageModel>> LanguageModel::CreateRandom(
    const std::string& name, const nlohmann::json& config, const std::string& tokenizer_path,
    const ModelOptions& options, uint64_t seed, ExecContext& ctx) {
  SY_ASSIGN_OR_RETURN(ModelConfig parsed, ParseModelConfig(config, name + " config.json"));
  SY_ASSIGN_OR_RETURN(BpeTokenizer tokenizer, BpeTokenizer::FromFile(tokenizer_path));
  SY_ASSIGN_OR_RETURN(std::unique_ptr<MoeModel> network,
                      MoeModel::CreateRandom(parsed, options, seed, ctx));
  return std::make_unique<LanguageModel>(LanguageModel{
      .name = name,
      .network = std::move(network),
      .tokenizer = std::move(tokenizer),
      .model_type = config.value("model_type", ""),
      .eos_ids = parsed.eos_token_ids,
      .expert_parallel = options.expert_parallel,
  });
}

absl::StatusOr<std::vector<int32_t>> LanguageModel::EncodeText(absl::string_view text) const {
  return tokenizer.Encode(text, /*add_special_tokens=*/true);
}

absl::StatusOr<std::vector<int32_t>> LanguageModel::EncodeDocuments(absl::string_view text,
                                                                    int64_t limit) const {
  std::vector<int32_t> ids;
  for (absl::string_view doc : absl::StrSplit(text, "\n\n\n")) {
    if (!ids.empty() && !eos_ids.empty()) ids.push_back(static_cast<int32_t>(eos_ids[0]));
    SY_ASSIGN_OR_RETURN(std::vector<int32_t> piece, tokenizer.Encode(doc));
    ids.insert(ids.end(), piece.begin(), piece.end());
    if (limit > 0 && static_cast<int64_t>(ids.size()) >= limit) {
      ids.resize(limit);
      break;
    }
  }
  return ids;
}

absl::StatusOr<std::vector<int32_t>> LanguageModel::EncodeChat(
    const std::vector<ChatMessage>& messages) const {
  SY_ASSIGN_OR_RETURN(ChatFamily family, ChatFamilyForModelType(model_type));
  SY_ASSIGN_OR_RETURN(std::string rendered,
                      RenderChat(family, messages, /*add_generation_prompt=*/true));
  // The rendered template already holds the family's BOS and role markers.
  return tokenizer.Encode(rendered, /*add_special_tokens=*/false);
}

}  // namespace sy
