#include "server/chat_template.h"

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/service_errors.h"
#include "server/request_limits.h"
#include "server/jinja/template.h"

namespace strata {

ChatTemplate::ChatTemplate(const std::string& source, std::string bos_token, std::string eos_token)
    : bos_token_(std::move(bos_token)), eos_token_(std::move(eos_token)) {
  if (int64_t(source.size()) > request_limits::kMaxChatTemplateBytes) {
    fail("chat template: {} bytes, more than the limit of {} bytes", source.size(),
         request_limits::kMaxChatTemplateBytes);
  }
  try {
    template_ = std::make_unique<jinja::Template>(source);
  } catch (const Error& e) {
    fail("chat template: {}", e.what());
  }
}

ChatTemplate::~ChatTemplate() = default;
ChatTemplate::ChatTemplate(ChatTemplate&&) noexcept = default;
ChatTemplate& ChatTemplate::operator=(ChatTemplate&&) noexcept = default;

static std::string special_token(const nlohmann::ordered_json& config, const char* key) {
  auto it = config.find(key);
  if (it == config.end() || it->is_null()) return "";
  if (it->is_string()) return it->get<std::string>();
  if (it->is_object() && it->contains("content") && (*it)["content"].is_string()) return (*it)["content"].get<std::string>();
  return "";
}

ChatTemplate ChatTemplate::from_tokenizer_config(const nlohmann::ordered_json& config, const std::string& where) {
  auto it = config.find("chat_template");
  if (it == config.end() || it->is_null()) fail("{}: no \"chat_template\"", where);
  std::string source;
  if (it->is_string()) {
    source = it->get<std::string>();
  } else if (it->is_array()) {
    for (const auto& named : *it)
      if (named.is_object() && named.value("name", nlohmann::ordered_json()) == "default" && named.contains("template") &&
          named["template"].is_string())
        source = named["template"].get<std::string>();
    if (source.empty()) fail("{}: \"chat_template\" list has no \"default\" template", where);
  } else {
    fail("{}: \"chat_template\" must be a string or a list of named templates", where);
  }
  try {
    return ChatTemplate(source, special_token(config, "bos_token"), special_token(config, "eos_token"));
  } catch (const Error& e) {
    fail("{}: {}", where, e.what());
  }
}

std::string ChatTemplate::render(const nlohmann::ordered_json& messages, const nlohmann::ordered_json& tools,
                                 bool add_generation_prompt, const nlohmann::ordered_json& template_kwargs) const {
  if (!messages.is_array()) refuse("chat template: messages must be an array");
  jinja::Object variables;
  variables.set("messages", jinja::Value::from_json(messages));
  variables.set("tools", jinja::Value::from_json(tools));
  variables.set("documents", jinja::Value::none());
  variables.set("add_generation_prompt", jinja::Value(add_generation_prompt));
  // transformers passes only the special tokens the tokenizer defines.
  if (!bos_token_.empty()) variables.set("bos_token", jinja::Value(bos_token_));
  if (!eos_token_.empty()) variables.set("eos_token", jinja::Value(eos_token_));
  if (template_kwargs.is_object())
    for (const auto& [key, value] : template_kwargs.items()) variables.set(key, jinja::Value::from_json(value));
  // The template parsed when the model loaded, so what fails now is this
  // conversation (raise_exception on roles that do not alternate, say).
  try {
    return template_->render(variables);
  } catch (const Error& e) {
    refuse("{}", e.what());
  }
}

}  // namespace strata
