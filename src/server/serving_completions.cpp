#include "server/serving_completions.h"

#include <httplib.h>

#include <nlohmann/json.hpp>

#include "engine/request.h"
#include "model/model.h"
#include "server/openai_protocol.h"
#include "server/request_runner.h"
#include "tokenizer/tokenizer.h"

namespace strata {

using json = nlohmann::ordered_json;

namespace {

std::vector<int32_t> token_ids(const json& list, int64_t vocab) {
  std::vector<int32_t> ids;
  for (const json& id : list) {
    if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<int64_t>() >= vocab) {
      throw ApiError(400, "'prompt' token ids must be integers in [0, vocabulary size)", "prompt");
    }
    ids.push_back(int32_t(id.get<int64_t>()));
  }
  return ids;
}

// "prompt": a string, a list of token ids, or a batch (list) of either.
std::vector<std::vector<int32_t>> read_prompts(const json& body, const Tokenizer& tokenizer, int64_t vocab) {
  auto it = body.find("prompt");
  if (it == body.end() || it->is_null()) throw ApiError(400, "'prompt' is required", "prompt");
  const json& prompt = *it;
  std::vector<std::vector<int32_t>> prompts;
  if (prompt.is_string()) {
    prompts.push_back(tokenizer.encode_prompt(prompt.get<std::string>()));
  } else if (prompt.is_array() && !prompt.empty() && prompt.front().is_number()) {
    prompts.push_back(token_ids(prompt, vocab));
  } else if (prompt.is_array() && !prompt.empty()) {
    for (const json& item : prompt) {
      if (item.is_string()) {
        prompts.push_back(tokenizer.encode_prompt(item.get<std::string>()));
      } else if (item.is_array()) {
        prompts.push_back(token_ids(item, vocab));
      } else {
        throw ApiError(400, "'prompt' must be a string, a list of token ids, or a list of either", "prompt");
      }
    }
  } else {
    throw ApiError(400, "'prompt' must be a non-empty string, a list of token ids, or a list of either", "prompt");
  }
  for (const auto& ids : prompts) {
    if (ids.empty()) throw ApiError(400, "'prompt' must not be empty", "prompt");
  }
  return prompts;
}

json stop_reason(const StreamEvent& final_event) {
  if (final_event.stop_string) return *final_event.stop_string;
  if (final_event.stop_token) return *final_event.stop_token;
  return nullptr;
}

// Per choice, what has been produced so far.
struct ChoiceState {
  std::string text;
  json logprobs;
  int64_t text_offset = 0;
  std::optional<StreamEvent> final_event;
};

}  // namespace

void serve_completions(ServingContext& ctx, const httplib::Request& req, httplib::Response& res) {
  const json body = parse_body(req.body);
  const CompletionSettings settings =
      parse_completion_settings(body, Endpoint::Completions, ctx.model.generation_defaults());
  check_model_name(settings.model, ctx.served_model_name);
  const auto prompts = read_prompts(body, ctx.tokenizer, ctx.model.config().vocab_size);
  std::vector<GenerationParams> params;
  for (const auto& prompt : prompts) {
    params.push_back(settings.params);
    params.back().max_tokens = resolve_max_tokens(settings, int32_t(prompt.size()), ctx.max_model_len, "prompt");
  }

  auto run = std::make_shared<ChoiceRun>(ctx, prompts, params, settings.n);
  const std::string id = random_id("cmpl");
  const int64_t created = unix_time();
  const bool want_logprobs = settings.params.logprobs.has_value();
  const Tokenizer& tokenizer = ctx.tokenizer;
  json head = {{"id", id}, {"object", "text_completion"}, {"created", created}, {"model", ctx.served_model_name}};

  if (!settings.stream) {
    std::vector<ChoiceState> choices(size_t(run->num_choices()));
    while (!run->finished()) {
      auto item = next_while_connected(*run, req);
      if (!item) continue;
      ChoiceState& c = choices[size_t(item->index)];
      c.text += item->event.text;
      if (want_logprobs) {
        if (c.logprobs.is_null()) c.logprobs = empty_completion_logprobs();
        append_completion_logprobs(c.logprobs, tokenizer, item->event.logprobs, c.text_offset);
      }
      if (item->event.finish) c.final_event = std::move(item->event);
    }
    json out = head;
    out["choices"] = json::array();
    UsageTotals usage;
    for (size_t i = 0; i < choices.size(); ++i) {
      const StreamEvent& last = *choices[i].final_event;
      if (!last.error.empty()) throw generation_error(last.error);
      usage.add(last);
      out["choices"].push_back({{"index", i},
                                {"text", choices[i].text},
                                {"logprobs", want_logprobs ? choices[i].logprobs : json(nullptr)},
                                {"finish_reason", to_string(*last.finish)},
                                {"stop_reason", stop_reason(last)}});
    }
    out["usage"] = usage_json(usage);
    res.set_content(json_text(out), "application/json");
    return;
  }

  struct StreamState {
    std::vector<int64_t> text_offsets;
    UsageTotals usage;
    bool sent_done = false;
  };
  auto state = std::make_shared<StreamState>();
  state->text_offsets.resize(size_t(run->num_choices()), 0);
  const bool include_usage = settings.include_usage;
  stream_sse(res, run, [run, state, head, want_logprobs, include_usage, &tokenizer](std::string& out) {
    if (state->sent_done) return false;
    auto item = run->next(std::chrono::milliseconds(200));
    if (item) {
      const StreamEvent& e = item->event;
      if (!e.error.empty()) {
        out += sse_frame(generation_error(e.error).body());
      } else if (!e.text.empty() || e.finish || (want_logprobs && !e.logprobs.empty())) {
        json logprobs = nullptr;
        if (want_logprobs) {
          logprobs = empty_completion_logprobs();
          append_completion_logprobs(logprobs, tokenizer, e.logprobs, state->text_offsets[size_t(item->index)]);
        }
        json chunk = head;
        chunk["choices"] = json::array({{{"index", item->index},
                                          {"text", e.text},
                                          {"logprobs", logprobs},
                                          {"finish_reason", e.finish ? json(to_string(*e.finish)) : json(nullptr)},
                                          {"stop_reason", e.finish ? stop_reason(e) : json(nullptr)}}});
        if (include_usage) chunk["usage"] = nullptr;
        out += sse_frame(json_text(chunk));
      }
      if (e.finish) state->usage.add(e);
    }
    if (run->finished()) {
      out += sse_stream_end(head, include_usage, state->usage);
      state->sent_done = true;
    }
    return true;
  });
}

}  // namespace strata
