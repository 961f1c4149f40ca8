#pragma once
// Renders a model's chat template the way Hugging Face transformers (and so
// vLLM) does: variables messages, tools (None when absent), documents (None),
// add_generation_prompt, bos_token/eos_token, then chat_template_kwargs
// (e.g. enable_thinking), which override the special tokens.
#include <memory>
#include <string>

#include <nlohmann/json_fwd.hpp>

namespace strata {

namespace jinja {
class Template;
}

class ChatTemplate {
 public:
  // An empty bos/eos token means the tokenizer has none: the variable is then
  // left undefined, as transformers does. Parses the template now, so a template the engine cannot handle is
  // reported at start-up: throws strata::Error("chat template: ..."), also
  // for one larger than request_limits::kMaxChatTemplateBytes.
  ChatTemplate(const std::string& source, std::string bos_token, std::string eos_token);
  ~ChatTemplate();
  ChatTemplate(ChatTemplate&&) noexcept;
  ChatTemplate& operator=(ChatTemplate&&) noexcept;

  // Reads "chat_template" (a string, or a list of {name, template} where
  // "default" is used), "bos_token" and "eos_token" (strings or
  // {"content": ...}) from a parsed tokenizer_config.json; `where` names the
  // file in errors.
  static ChatTemplate from_tokenizer_config(const nlohmann::ordered_json& config, const std::string& where);

  // messages: OpenAI-style array as the client sent it (keep the client's key
  // order: parse request bodies with nlohmann::ordered_json). tools: array or
  // null. template_kwargs: object or null. Throws InvalidRequest (this
  // conversation cannot be rendered), with raise_exception()'s message.
  std::string render(const nlohmann::ordered_json& messages, const nlohmann::ordered_json& tools,
                     bool add_generation_prompt, const nlohmann::ordered_json& template_kwargs) const;

 private:
  std::unique_ptr<jinja::Template> template_;
  std::string bos_token_;
  std::string eos_token_;
};

}  // namespace strata
