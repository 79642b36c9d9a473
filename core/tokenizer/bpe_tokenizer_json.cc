// tokenizer.json parsing for BpeTokenizer. Every error names the source and the JSON field.
#include <algorithm>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "core/base/status.h"
#include "core/tokenizer/bpe_tokenizer.h"
#include "nlohmann/json.hpp"

namespace sy {
namespace {

using Json = nlohmann::json;

absl::Status FieldError(absl::string_view source, absl::string_view field, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(source, ": ", field, " ", what));
}

absl::Status Unsupported(absl::string_view source, absl::string_view field,
                         absl::string_view type) {
  return FieldError(source, absl::StrCat(field, ".type"),
                    absl::StrCat("'", type, "' is not supported"));
}

// `obj[key]` as a string; `fallback` when absent or null.
absl::StatusOr<std::string> StringField(const Json& obj, const char* key, absl::string_view field,
                                        absl::string_view source,
                                        const std::string& fallback = "") {
  const auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return fallback;
  if (!it->is_string()) return FieldError(source, absl::StrCat(field, ".", key), "is not a string");
  return it->get<std::string>();
}

absl::StatusOr<bool> BoolField(const Json& obj, const char* key, absl::string_view field,
                               absl::string_view source, bool fallback) {
  const auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return fallback;
  if (!it->is_boolean())
    return FieldError(source, absl::StrCat(field, ".", key), "is not a boolean");
  return it->get<bool>();
}

// The "type" of a section, which must be an object.
absl::StatusOr<std::string> TypeOf(const Json& step, absl::string_view field,
                                   absl::string_view source) {
  if (!step.is_object()) return FieldError(source, field, "is not an object");
  SY_ASSIGN_OR_RETURN(std::string type, StringField(step, "type", field, source));
  if (type.empty()) return FieldError(source, absl::StrCat(field, ".type"), "is missing");
  return type;
}

// The members of a Sequence section, under `key`, with their field paths.
absl::StatusOr<std::vector<std::pair<const Json*, std::string>>> Members(const Json& step,
                                                                         const char* key,
                                                                         absl::string_view field,
                                                                         absl::string_view source) {
  const auto it = step.find(key);
  const std::string path = absl::StrCat(field, ".", key);
  if (it == step.end() || !it->is_array()) return FieldError(source, path, "is not an array");
  std::vector<std::pair<const Json*, std::string>> members;
  for (size_t i = 0; i < it->size(); ++i) {
    members.emplace_back(&(*it)[i], absl::StrCat(path, "[", i, "]"));
  }
  return members;
}

// A {"String": s} or {"Regex": r} pattern: (is_regex, text).
absl::StatusOr<std::pair<bool, std::string>> PatternOf(const Json& step, absl::string_view field,
                                                       absl::string_view source) {
  const auto it = step.find("pattern");
  const std::string path = absl::StrCat(field, ".pattern");
  if (it != step.end() && it->is_object()) {
    if (it->contains("String") && (*it)["String"].is_string()) {
      return std::make_pair(false, (*it)["String"].get<std::string>());
    }
    if (it->contains("Regex") && (*it)["Regex"].is_string()) {
      return std::make_pair(true, (*it)["Regex"].get<std::string>());
    }
  }
  return FieldError(source, path, "is not a {\"String\"} or {\"Regex\"} pattern");
}

// Merges come as "a b" strings (older files) or ["a", "b"] pairs (newer ones).
absl::StatusOr<std::pair<std::string, std::string>> MergePair(const Json& merge,
                                                              absl::string_view field,
                                                              absl::string_view source) {
  if (merge.is_string()) {
    const std::string text = merge.get<std::string>();
    const size_t space = text.find(' ');
    if (space != std::string::npos && text.find(' ', space + 1) == std::string::npos) {
      return std::make_pair(text.substr(0, space), text.substr(space + 1));
    }
  } else if (merge.is_array() && merge.size() == 2 && merge[0].is_string() &&
             merge[1].is_string()) {
    return std::make_pair(merge[0].get<std::string>(), merge[1].get<std::string>());
  }
  return FieldError(source, field, "is not an \"a b\" string or an [\"a\", \"b\"] pair");
}

absl::StatusOr<PreTokenizerStep::Prepend> MetaspacePrepend(const Json& step,
                                                           absl::string_view field,
                                                           absl::string_view source) {
  using Prepend = PreTokenizerStep::Prepend;
  if (step.contains("prepend_scheme")) {
    SY_ASSIGN_OR_RETURN(std::string scheme, StringField(step, "prepend_scheme", field, source));
    if (scheme == "always") return Prepend::kAlways;
    if (scheme == "first") return Prepend::kFirst;
    if (scheme == "never") return Prepend::kNever;
    return FieldError(source, absl::StrCat(field, ".prepend_scheme"),
                      absl::StrCat("'", scheme, "' is not always, first or never"));
  }
  // Files older than prepend_scheme have add_prefix_space.
  SY_ASSIGN_OR_RETURN(bool add, BoolField(step, "add_prefix_space", field, source, true));
  return add ? Prepend::kAlways : Prepend::kNever;
}

}  // namespace

absl::StatusOr<BpeTokenizer> BpeTokenizer::FromFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot open"));
  std::stringstream text;
  text << in.rdbuf();
  return FromJson(text.str(), path);
}

absl::StatusOr<BpeTokenizer> BpeTokenizer::FromJson(absl::string_view json,
                                                    absl::string_view source_name) {
  const Json root = Json::parse(json.begin(), json.end(), nullptr, /*allow_exceptions=*/false);
  if (root.is_discarded() || !root.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(source_name, ": not a JSON object"));
  }
  BpeTokenizer tok;
  SY_RETURN_IF_ERROR(tok.ParseModel(root, source_name));
  SY_RETURN_IF_ERROR(tok.ParseAddedTokens(root, source_name));
  const auto section = [&](const char* key) -> const Json& {
    static const Json kNull;
    return root.contains(key) ? root[key] : kNull;
  };
  SY_RETURN_IF_ERROR(tok.ParseNormalizerStep(section("normalizer"), "normalizer", source_name));
  SY_RETURN_IF_ERROR(tok.ParsePreStep(section("pre_tokenizer"), "pre_tokenizer", source_name));
  SY_RETURN_IF_ERROR(tok.ParseDecoderStep(section("decoder"), "decoder", source_name));
  SY_RETURN_IF_ERROR(
      tok.ParseProcessorStep(section("post_processor"), "post_processor", source_name));
  return tok;
}

void BpeTokenizer::GrowIds(int32_t id) {
  if (id < vocab_size()) return;
  id_to_token_.resize(id + 1);
  is_added_.resize(id + 1);
  is_special_.resize(id + 1);
}

absl::Status BpeTokenizer::ParseModel(const Json& root, absl::string_view source) {
  const auto model_it = root.find("model");
  if (model_it == root.end()) return FieldError(source, "model", "is missing");
  const Json& model = *model_it;
  SY_ASSIGN_OR_RETURN(std::string type, TypeOf(model, "model", source));
  if (type != "BPE") {
    return FieldError(source, "model.type",
                      absl::StrCat("'", type, "' is not supported (BPE only)"));
  }
  SY_RETURN_IF_ERROR(ParseVocab(model, source));
  SY_ASSIGN_OR_RETURN(byte_fallback_, BoolField(model, "byte_fallback", "model", source, false));
  SY_ASSIGN_OR_RETURN(fuse_unk_, BoolField(model, "fuse_unk", "model", source, false));
  SY_ASSIGN_OR_RETURN(ignore_merges_, BoolField(model, "ignore_merges", "model", source, false));
  for (const char* affix : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    SY_ASSIGN_OR_RETURN(std::string value, StringField(model, affix, "model", source));
    if (!value.empty())
      return FieldError(source, absl::StrCat("model.", affix), "is not supported");
  }
  SY_ASSIGN_OR_RETURN(std::string unk, StringField(model, "unk_token", "model", source));
  if (!unk.empty()) {
    const auto it = token_to_id_.find(unk);
    if (it == token_to_id_.end()) {
      return FieldError(source, "model.unk_token",
                        absl::StrCat("'", unk, "' is not in the vocabulary"));
    }
    unk_id_ = it->second;
  }
  return ParseMerges(model, source);
}

absl::Status BpeTokenizer::ParseVocab(const Json& model, absl::string_view source) {
  const auto it = model.find("vocab");
  if (it == model.end() || !it->is_object()) {
    return FieldError(source, "model.vocab", "is not an object");
  }
  for (const auto& [token, id] : it->items()) {
    if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<int64_t>() > INT32_MAX) {
      return FieldError(source, absl::StrCat("model.vocab['", token, "']"),
                        "is not a non-negative 32-bit id");
    }
    const auto value = static_cast<int32_t>(id.get<int64_t>());
    token_to_id_[token] = value;
    GrowIds(value);
    id_to_token_[value] = token;
  }
  return absl::OkStatus();
}

absl::Status BpeTokenizer::ParseMerges(const Json& model, absl::string_view source) {
  const auto it = model.find("merges");
  if (it == model.end() || it->is_null()) return absl::OkStatus();
  if (!it->is_array()) return FieldError(source, "model.merges", "is not an array");
  for (size_t rank = 0; rank < it->size(); ++rank) {
    const std::string field = absl::StrCat("model.merges[", rank, "]");
    SY_ASSIGN_OR_RETURN(auto pair, MergePair((*it)[rank], field, source));
    int32_t ids[3];
    const std::string parts[3] = {pair.first, pair.second, pair.first + pair.second};
    for (int k = 0; k < 3; ++k) {
      const auto found = token_to_id_.find(parts[k]);
      if (found == token_to_id_.end()) {
        return FieldError(source, field, absl::StrCat("'", parts[k], "' is not in the vocabulary"));
      }
      ids[k] = found->second;
    }
    // A repeated pair keeps its first (best) rank, as HF does.
    merges_.emplace(MergeKey(ids[0], ids[1]), Merge{static_cast<int32_t>(rank), ids[2]});
  }
  return absl::OkStatus();
}

absl::Status BpeTokenizer::ParseAddedTokens(const Json& root, absl::string_view source) {
  added_by_byte_.assign(256, {});
  const auto it = root.find("added_tokens");
  if (it == root.end() || it->is_null()) return absl::OkStatus();
  if (!it->is_array()) return FieldError(source, "added_tokens", "is not an array");
  for (size_t i = 0; i < it->size(); ++i) {
    const Json& entry = (*it)[i];
    const std::string field = absl::StrCat("added_tokens[", i, "]");
    if (!entry.is_object() || !entry.contains("id") || !entry["id"].is_number_integer() ||
        entry["id"].get<int64_t>() < 0 || entry["id"].get<int64_t>() > INT32_MAX) {
      return FieldError(source, absl::StrCat(field, ".id"), "is not a non-negative 32-bit id");
    }
    SY_ASSIGN_OR_RETURN(std::string content, StringField(entry, "content", field, source));
    if (content.empty()) return FieldError(source, absl::StrCat(field, ".content"), "is empty");
    SY_ASSIGN_OR_RETURN(bool special, BoolField(entry, "special", field, source, false));
    const auto id = static_cast<int32_t>(entry["id"].get<int64_t>());
    GrowIds(id);
    id_to_token_[id] = content;
    is_added_[id] = true;
    is_special_[id] = special;
    added_.push_back({content, id, special});
  }
  // Longest first, so that matching at a position takes the longest added token.
  std::stable_sort(added_.begin(), added_.end(), [](const AddedToken& a, const AddedToken& b) {
    return a.content.size() > b.content.size();
  });
  for (size_t i = 0; i < added_.size(); ++i) {
    added_by_byte_[static_cast<unsigned char>(added_[i].content[0])].push_back(i);
  }
  return absl::OkStatus();
}

absl::Status BpeTokenizer::ParseNormalizerStep(const Json& step, const std::string& field,
                                               absl::string_view source) {
  if (step.is_null()) return absl::OkStatus();
  SY_ASSIGN_OR_RETURN(std::string type, TypeOf(step, field, source));
  if (type == "NFC") return absl::OkStatus();  // applied as the identity; see the header
  if (type == "Prepend") {
    SY_ASSIGN_OR_RETURN(std::string prepend, StringField(step, "prepend", field, source));
    normalizer_steps_.emplace_back("", prepend);
    return absl::OkStatus();
  }
  if (type == "Replace") {
    SY_ASSIGN_OR_RETURN(auto pattern, PatternOf(step, field, source));
    if (pattern.first || pattern.second.empty()) {
      return FieldError(source, absl::StrCat(field, ".pattern"), "must be a non-empty String");
    }
    SY_ASSIGN_OR_RETURN(std::string content, StringField(step, "content", field, source));
    normalizer_steps_.emplace_back(pattern.second, content);
    return absl::OkStatus();
  }
  if (type != "Sequence") return Unsupported(source, field, type);
  SY_ASSIGN_OR_RETURN(auto members, Members(step, "normalizers", field, source));
  for (const auto& [member, path] : members) {
    SY_RETURN_IF_ERROR(ParseNormalizerStep(*member, path, source));
  }
  return absl::OkStatus();
}

absl::Status BpeTokenizer::ParsePreStep(const Json& step, const std::string& field,
                                        absl::string_view source) {
  if (step.is_null()) return absl::OkStatus();
  SY_ASSIGN_OR_RETURN(std::string type, TypeOf(step, field, source));
  PreTokenizerStep parsed;
  if (type == "ByteLevel") {
    parsed.kind = PreTokenizerStep::Kind::kByteLevel;
    SY_ASSIGN_OR_RETURN(parsed.add_prefix_space,
                        BoolField(step, "add_prefix_space", field, source, false));
    SY_ASSIGN_OR_RETURN(parsed.use_regex, BoolField(step, "use_regex", field, source, true));
  } else if (type == "Split") {
    SY_RETURN_IF_ERROR(ParseSplit(step, field, source, parsed));
  } else if (type == "Metaspace") {
    parsed.kind = PreTokenizerStep::Kind::kMetaspace;
    SY_ASSIGN_OR_RETURN(parsed.replacement,
                        StringField(step, "replacement", field, source, "\u2581"));
    SY_ASSIGN_OR_RETURN(parsed.prepend, MetaspacePrepend(step, field, source));
    SY_ASSIGN_OR_RETURN(parsed.split, BoolField(step, "split", field, source, true));
  } else if (type == "Sequence") {
    SY_ASSIGN_OR_RETURN(auto members, Members(step, "pretokenizers", field, source));
    for (const auto& [member, path] : members) {
      SY_RETURN_IF_ERROR(ParsePreStep(*member, path, source));
    }
    return absl::OkStatus();
  } else {
    return Unsupported(source, field, type);
  }
  pre_steps_.push_back(std::move(parsed));
  return absl::OkStatus();
}

absl::Status BpeTokenizer::ParseSplit(const Json& step, const std::string& field,
                                      absl::string_view source, PreTokenizerStep& parsed) {
  parsed.kind = PreTokenizerStep::Kind::kSplit;
  SY_ASSIGN_OR_RETURN(auto pattern, PatternOf(step, field, source));
  absl::StatusOr<SplitPattern> known = PatternFromRegex(pattern.second);
  if (!pattern.first || !known.ok()) {
    return FieldError(source, absl::StrCat(field, ".pattern"),
                      known.ok() ? "is not a Regex" : known.status().message());
  }
  parsed.pattern = *known;
  SY_ASSIGN_OR_RETURN(std::string behavior, StringField(step, "behavior", field, source));
  if (behavior != "Isolated") {
    return FieldError(source, absl::StrCat(field, ".behavior"),
                      absl::StrCat("'", behavior, "' is not supported (Isolated only)"));
  }
  SY_ASSIGN_OR_RETURN(bool invert, BoolField(step, "invert", field, source, false));
  if (invert) return FieldError(source, absl::StrCat(field, ".invert"), "true is not supported");
  return absl::OkStatus();
}

absl::Status BpeTokenizer::ParseDecoderStep(const Json& step, const std::string& field,
                                            absl::string_view source) {
  if (step.is_null()) {
    // No decoder: undo what the pre-tokenizer did.
    for (const PreTokenizerStep& pre : pre_steps_) {
      byte_level_decoder_ |= pre.kind == PreTokenizerStep::Kind::kByteLevel;
    }
    return absl::OkStatus();
  }
  SY_ASSIGN_OR_RETURN(std::string type, TypeOf(step, field, source));
  if (type == "ByteLevel") {
    byte_level_decoder_ = true;
  } else if (type == "ByteFallback") {
    byte_fallback_decoder_ = true;
  } else if (type == "Fuse") {
    // Joining the tokens' strings is what decoding does anyway.
  } else if (type == "Metaspace") {
    SY_ASSIGN_OR_RETURN(metaspace_decoder_,
                        StringField(step, "replacement", field, source, "\u2581"));
    SY_ASSIGN_OR_RETURN(PreTokenizerStep::Prepend prepend, MetaspacePrepend(step, field, source));
    strip_leading_spaces_ = prepend == PreTokenizerStep::Prepend::kNever ? 0 : 1;
  } else if (type == "Replace") {
    SY_ASSIGN_OR_RETURN(auto pattern, PatternOf(step, field, source));
    SY_ASSIGN_OR_RETURN(std::string content, StringField(step, "content", field, source));
    if (pattern.first || pattern.second.empty() || content != " ") {
      return FieldError(source, field, "is supported only as a String replacement by \" \"");
    }
    metaspace_decoder_ = pattern.second;
  } else if (type == "Strip") {
    SY_RETURN_IF_ERROR(ParseStrip(step, field, source));
  } else if (type == "Sequence") {
    SY_ASSIGN_OR_RETURN(auto members, Members(step, "decoders", field, source));
    for (const auto& [member, path] : members) {
      SY_RETURN_IF_ERROR(ParseDecoderStep(*member, path, source));
    }
  } else {
    return Unsupported(source, field, type);
  }
  return absl::OkStatus();
}

absl::Status BpeTokenizer::ParseStrip(const Json& step, const std::string& field,
                                      absl::string_view source) {
  SY_ASSIGN_OR_RETURN(std::string content, StringField(step, "content", field, source));
  const Json start = step.value("start", Json(0)), stop = step.value("stop", Json(0));
  if (content != " " || !start.is_number_unsigned() || !stop.is_number_integer() ||
      stop.get<int64_t>() != 0) {
    return FieldError(source, field, "is supported only as stripping leading spaces");
  }
  strip_leading_spaces_ = static_cast<int>(start.get<uint64_t>());
  return absl::OkStatus();
}

absl::Status BpeTokenizer::ParseProcessorStep(const Json& step, const std::string& field,
                                              absl::string_view source) {
  if (step.is_null()) return absl::OkStatus();
  SY_ASSIGN_OR_RETURN(std::string type, TypeOf(step, field, source));
  if (type == "ByteLevel") return absl::OkStatus();  // only adjusts offsets
  if (type == "TemplateProcessing") return ParseTemplate(step, field, source);
  if (type != "Sequence") return Unsupported(source, field, type);
  SY_ASSIGN_OR_RETURN(auto members, Members(step, "processors", field, source));
  for (const auto& [member, path] : members) {
    SY_RETURN_IF_ERROR(ParseProcessorStep(*member, path, source));
  }
  return absl::OkStatus();
}

// The "single" template: special tokens before the sequence "A" go to prefix_ids_, those
// after it to suffix_ids_.
absl::Status BpeTokenizer::ParseTemplate(const Json& step, const std::string& field,
                                         absl::string_view source) {
  SY_ASSIGN_OR_RETURN(auto items, Members(step, "single", field, source));
  bool after_sequence = false;
  for (const auto& [item, path] : items) {
    if (item->contains("Sequence")) {
      after_sequence = true;
      continue;
    }
    const Json* special = item->contains("SpecialToken") ? &(*item)["SpecialToken"] : nullptr;
    if (special == nullptr || !special->contains("id") || !(*special)["id"].is_string()) {
      return FieldError(source, path, "is not a Sequence or SpecialToken item");
    }
    const std::string name = (*special)["id"].get<std::string>();
    const std::optional<int32_t> id = TokenToId(name);
    if (!id) return FieldError(source, path, absl::StrCat("'", name, "' is not a known token"));
    (after_sequence ? suffix_ids_ : prefix_ids_).push_back(*id);
  }
  return absl::OkStatus();
}

}  // namespace sy
