// A model ready to answer prompts: the network with what the checkpoint says about text — its
// tokenizer, chat format and end-of-sequence tokens — loaded together from one HF folder.
// `switchyard generate`, the Lua `sy.load_model` and the server all start from one of these.
#ifndef SWITCHYARD_CORE_MODEL_LANGUAGE_MODEL_H_
#define SWITCHYARD_CORE_MODEL_LANGUAGE_MODEL_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/model/moe_model.h"
#include "core/tokenizer/bpe_tokenizer.h"
#include "core/tokenizer/chat_template.h"

namespace sy {

struct LanguageModel {
  std::string name;  // the folder's name, e.g. "pydoc-moe": the model id clients ask for
  std::unique_ptr<MoeModel> network;
  BpeTokenizer tokenizer;
  std::string model_type;        // config.json's, e.g. "qwen3_moe"
  std::vector<int64_t> eos_ids;  // config.json's and generation_config.json's
  // The expert parallelism the network runs under (ModelOptions::expert_parallel), so the
  // engine can report the placement's balance; unset in one process.
  std::shared_ptr<const ExpertParallelism> expert_parallel;

  // Loads dir's checkpoint and tokenizer.json; errors name the file and tensor or field.
  static absl::StatusOr<std::unique_ptr<LanguageModel>> Load(const std::string& dir,
                                                             const ComponentRegistry& registry,
                                                             const ModelOptions& options,
                                                             ExecContext& ctx);

  // A model of `config` (a config.json) with random weights synthesized on options.device
  // (MoeModel::CreateRandom) and the tokenizer at tokenizer_path: full-size shapes without a
  // download, for benchmarks. `name` is what clients ask for.
  static absl::StatusOr<std::unique_ptr<LanguageModel>> CreateRandom(
      const std::string& name, const nlohmann::json& config, const std::string& tokenizer_path,
      const ModelOptions& options, uint64_t seed, ExecContext& ctx);

  // Plain text, with the special tokens the tokenizer adds around a sequence (e.g. BOS).
  absl::StatusOr<std::vector<int32_t>> EncodeText(absl::string_view text) const;
  // `text`'s documents (separated by two blank lines) encoded one after another and joined by
  // the end-of-sequence token, as the built-in model's training streamed its corpus; at most
  // `limit` tokens (0: all). What `perplexity` and `ab` score held-out text with.
  absl::StatusOr<std::vector<int32_t>> EncodeDocuments(absl::string_view text,
                                                       int64_t limit = 0) const;
  // A conversation in the family's chat format, ending with the assistant's generation prompt.
  absl::StatusOr<std::vector<int32_t>> EncodeChat(const std::vector<ChatMessage>& messages) const;
};

}  // namespace sy

#endif  // SWITCHYARD_CORE_MODEL_LANGUAGE_MODEL_H_
