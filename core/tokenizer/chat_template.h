// The chat formats of the supported families, written as code rather than run through a
// Jinja engine. Each reproduces its model's tokenizer_config.json chat_template for plain
// system/user/assistant conversations (no tools). The output contains the special tokens as
// text (e.g. "<s>", "<|im_start|>"); encode it with add_special_tokens = false, since the
// added-token matcher turns them into their ids and the template already holds the BOS.
//
//  kQwen2 (Qwen1.5/Qwen2 MoE, ChatML): "<|im_start|>{role}\n{content}<|im_end|>\n" per
//    message, a default "You are a helpful assistant." system message when none is given,
//    generation prompt "<|im_start|>assistant\n".
//  kQwen3: ChatML without a default system message; assistant turns before the last user
//    message lose their "<think>...</think>" part, as Qwen3's template does. Thinking is left
//    enabled (the generation prompt is not followed by an empty think block).
//  kMistral (Mixtral-8x7B-Instruct-v0.1): "<s>[INST] {user} [/INST]{assistant}</s>[INST] ...";
//    roles must alternate user/assistant. The original template has no system role; a leading
//    system message is folded into the first user turn as "{system}\n\n{user}", as the later
//    Mistral templates do. The generation prompt is implicit in "[/INST]".
//  kOlmoe (OLMoE-1B-7B-0924-Instruct, the Tulu format; BOS = EOS = "<|endoftext|>"):
//    "<|endoftext|>" then "<|system|>\n{c}\n", "<|user|>\n{c}\n",
//    "<|assistant|>\n{c}<|endoftext|>" (+ "\n" unless it is the last message); generation
//    prompt "<|assistant|>\n".
#ifndef SWITCHYARD_CORE_TOKENIZER_CHAT_TEMPLATE_H_
#define SWITCHYARD_CORE_TOKENIZER_CHAT_TEMPLATE_H_

#include <span>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace sy {

enum class ChatFamily { kQwen2, kQwen3, kMistral, kOlmoe };

struct ChatMessage {
  std::string role;  // "system", "user" or "assistant"
  std::string content;
};

// The family of a config.json model_type ("qwen2_moe", "qwen3_moe", "mixtral", "olmoe", and
// their dense forms); NotFound for others.
absl::StatusOr<ChatFamily> ChatFamilyForModelType(absl::string_view model_type);

// The prompt text of `messages`. InvalidArgument naming the message index for a role the
// family does not accept or, for kMistral, roles that do not alternate.
absl::StatusOr<std::string> RenderChat(ChatFamily family, std::span<const ChatMessage> messages,
                                       bool add_generation_prompt);

}  // namespace sy

#endif  // SWITCHYARD_CORE_TOKENIZER_CHAT_TEMPLATE_H_
