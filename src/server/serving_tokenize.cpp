#include "server/serving_tokenize.h"

#include <httplib.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "server/openai_protocol.h"
#include "server/request_runner.h"
#include "server/serving_chat.h"
#include "tokenizer/tokenizer.h"

namespace strata {

using json = nlohmann::ordered_json;

namespace {

// An optional field of type `is` (null counts as absent). Checked before
// reading: json::value() throws a type error, which would answer 500.
template <class Is>
const json* optional_field(const json& body, const char* key, Is is, const char* what) {
  auto it = body.find(key);
  if (it == body.end() || it->is_null()) return nullptr;
  if (!((*it).*is)()) throw ApiError(400, fmt::format("'{}' must be {}", key, what), key);
  return &*it;
}

std::string model_field(const json& body) {
  const json* model = optional_field(body, "model", &json::is_string, "a string");
  return model ? model->get<std::string>() : "";
}

}  // namespace

void serve_tokenize(ServingContext& ctx, const httplib::Request& req, httplib::Response& res) {
  const json body = parse_body(req.body);
  check_model_name(model_field(body), ctx.served_model_name);
  std::vector<int32_t> tokens;
  if (body.contains("messages")) {
    const json tools = body.contains("tools") ? body["tools"] : json(nullptr);
    tokens = ctx.tokenizer.encode(render_chat_prompt(ctx, body, tools));
  } else {
    auto prompt = body.find("prompt");
    if (prompt == body.end() || !prompt->is_string()) throw ApiError(400, "'prompt' must be a string", "prompt");
    auto add_special = body.find("add_special_tokens");
    if (add_special != body.end() && !add_special->is_boolean()) {
      throw ApiError(400, "'add_special_tokens' must be a boolean", "add_special_tokens");
    }
    const bool add_special_tokens = add_special == body.end() || add_special->get<bool>();
    const std::string text = prompt->get<std::string>();
    tokens = add_special_tokens ? ctx.tokenizer.encode_prompt(text) : ctx.tokenizer.encode(text);
  }
  json out = {{"count", tokens.size()}, {"max_model_len", ctx.max_model_len}, {"tokens", tokens}, {"token_strs", nullptr}};
  const json* token_strs = optional_field(body, "return_token_strs", &json::is_boolean, "a boolean");
  if (token_strs && token_strs->get<bool>()) {
    out["token_strs"] = json::array();
    for (int32_t id : tokens) out["token_strs"].push_back(token_text(ctx.tokenizer, id));
  }
  res.set_content(json_text(out), "application/json");
}

void serve_detokenize(ServingContext& ctx, const httplib::Request& req, httplib::Response& res) {
  const json body = parse_body(req.body);
  check_model_name(model_field(body), ctx.served_model_name);
  auto tokens = body.find("tokens");
  if (tokens == body.end() || !tokens->is_array()) throw ApiError(400, "'tokens' must be a list of token ids", "tokens");
  std::vector<int32_t> ids;
  for (const json& id : *tokens) {
    if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<int64_t>() >= ctx.tokenizer.vocab_size()) {
      throw ApiError(400, "'tokens' must hold token ids of this vocabulary", "tokens");
    }
    ids.push_back(int32_t(id.get<int64_t>()));
  }
  res.set_content(json_text({{"prompt", ctx.tokenizer.decode(ids)}}), "application/json");
}

}  // namespace strata
