#include "server/serving_chat.h"

#include <httplib.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/service_errors.h"
#include "engine/request.h"
#include "model/model.h"
#include "server/chat_template.h"
#include "server/openai_protocol.h"
#include "server/reasoning_parser.h"
#include "server/request_limits.h"
#include "server/request_runner.h"
#include "server/tool_call_parser.h"
#include "tokenizer/tokenizer.h"

namespace strata {

using json = nlohmann::ordered_json;

namespace {

// Messages as vLLM hands them to templates: content given as a list of
// parts is joined into one string, null content becomes "", and tool-call
// arguments sent as JSON text become objects (what HF templates expect).
json normalized_messages(const json& body) {
  auto it = body.find("messages");
  if (it == body.end() || !it->is_array() || it->empty()) {
    throw ApiError(400, "'messages' must be a non-empty list of messages", "messages");
  }
  json messages = *it;
  for (json& message : messages) {
    if (!message.is_object() || !message.contains("role") || !message["role"].is_string()) {
      throw ApiError(400, "each message must be an object with a string 'role'", "messages");
    }
    if (auto calls = message.find("tool_calls"); calls != message.end() && calls->is_array()) {
      for (json& call : *calls) {
        if (!call.is_object() || !call.contains("function") || !call["function"].is_object()) continue;
        json& arguments = call["function"]["arguments"];
        if (!arguments.is_string()) continue;
        json parsed = json::parse(arguments.get<std::string>(), nullptr, false);
        if (!parsed.is_discarded()) arguments = std::move(parsed);
      }
    }
    auto content = message.find("content");
    if (content != message.end() && content->is_null()) *content = "";
    if (content == message.end() || !content->is_array()) continue;
    std::string text;
    for (const json& part : *content) {
      if (!part.is_object() || part.value("type", json()) != "text" || !part.contains("text") || !part["text"].is_string()) {
        throw ApiError(400, "only text content parts are supported", "messages");
      }
      if (!text.empty()) text += "\n";
      text += part["text"].get<std::string>();
    }
    *content = text;
  }
  return messages;
}

struct ToolSetup {
  json tools = nullptr;     // what the template sees
  json declared = nullptr;  // all the request's tools: their schemas type parsed arguments
  bool parse = false;       // whether tool calls are extracted from the output
};

ToolSetup read_tools(const json& body, bool parser_available) {
  ToolSetup setup;
  auto tools = body.find("tools");
  const bool has_tools = tools != body.end() && !tools->is_null();
  if (has_tools && (!tools->is_array() || tools->empty())) throw ApiError(400, "'tools' must be a non-empty list", "tools");
  if (has_tools && int64_t(tools->size()) > request_limits::kMaxTools) {
    throw ApiError(400, fmt::format("'tools' holds at most {} tools", request_limits::kMaxTools), "tools");
  }
  if (has_tools) {
    for (const json& tool : *tools) {
      if (!tool.is_object() || tool.value("type", json()) != "function" || !tool.contains("function") ||
          !tool["function"].is_object() || !tool["function"].contains("name") || !tool["function"]["name"].is_string()) {
        throw ApiError(400, "each tool must be {\"type\": \"function\", \"function\": {\"name\": ...}}", "tools");
      }
    }
  }
  std::string choice = has_tools ? "auto" : "none";
  std::string named;
  auto tool_choice = body.find("tool_choice");
  if (tool_choice != body.end() && !tool_choice->is_null()) {
    if (tool_choice->is_string()) {
      choice = tool_choice->get<std::string>();
      if (choice != "none" && choice != "auto" && choice != "required") {
        throw ApiError(400, "'tool_choice' must be \"none\", \"auto\", \"required\" or a named function", "tool_choice");
      }
    } else if (tool_choice->is_object() && tool_choice->value("type", json()) == "function" &&
               tool_choice->contains("function") && (*tool_choice)["function"].is_object() &&
               (*tool_choice)["function"].contains("name") && (*tool_choice)["function"]["name"].is_string()) {
      choice = "named";
      named = (*tool_choice)["function"]["name"].get<std::string>();
    } else {
      throw ApiError(400, "'tool_choice' must be \"none\", \"auto\", \"required\" or a named function", "tool_choice");
    }
  }
  if (choice != "none" && !has_tools) {
    throw ApiError(400, "'tool_choice' other than \"none\" requires 'tools'", "tool_choice");
  }
  if (!has_tools) return setup;
  setup.declared = *tools;
  if (choice == "named") {
    setup.tools = json::array();
    for (const json& tool : *tools) {
      if (tool["function"]["name"] == named) setup.tools.push_back(tool);
    }
    if (setup.tools.empty()) {
      throw ApiError(400, "'tool_choice' names the function '" + named + "', which is not in 'tools'", "tool_choice");
    }
  } else {
    setup.tools = *tools;
  }
  if (choice != "none" && !parser_available) {
    throw ApiError(400, "this model's chat template has no tool-call format strata can parse", "tools");
  }
  setup.parse = choice != "none";
  return setup;
}

json tool_calls_json(const std::vector<ToolCall>& calls) {
  json out = json::array();
  for (const ToolCall& call : calls) {
    out.push_back({{"id", call.id}, {"type", "function"}, {"function", {{"name", call.name}, {"arguments", call.arguments}}}});
  }
  return out;
}

json tool_call_deltas_json(const std::vector<ToolCallDelta>& deltas) {
  json out = json::array();
  for (const ToolCallDelta& d : deltas) {
    json entry = {{"index", d.index}};
    json function = json::object();
    if (!d.id.empty()) {
      entry["id"] = d.id;
      entry["type"] = "function";
      function["name"] = d.name;
    }
    function["arguments"] = d.arguments;
    entry["function"] = std::move(function);
    out.push_back(std::move(entry));
  }
  return out;
}

const char* finish_reason(FinishReason reason, bool called_tools) {
  return reason == FinishReason::Stop && called_tools ? "tool_calls" : to_string(reason);
}

// One choice's output parsers while streaming.
struct StreamingChoice {
  ReasoningParser reasoning;
  std::optional<ToolCallParser> tools;
  bool called_tools = false;
  bool parse_reasoning = false;

  // Splits new text into the delta fields of a chunk.
  void add(json& delta, const std::string& text, bool last) {
    std::string reasoning_text, content = text;
    if (parse_reasoning) {
      ReasoningDelta d = reasoning.feed(text);
      if (last) {
        ReasoningDelta tail = reasoning.finish();
        d.reasoning += tail.reasoning;
        d.content += tail.content;
      }
      reasoning_text = std::move(d.reasoning);
      content = std::move(d.content);
    }
    std::vector<ToolCallDelta> calls;
    if (tools) {
      ToolCallStreamDelta d = tools->feed(content);
      if (last) {
        ToolCallStreamDelta tail = tools->finish();
        d.content += tail.content;
        d.tool_calls.insert(d.tool_calls.end(), tail.tool_calls.begin(), tail.tool_calls.end());
      }
      content = std::move(d.content);
      calls = std::move(d.tool_calls);
    }
    if (!reasoning_text.empty()) {
      delta["reasoning_content"] = reasoning_text;
      delta["reasoning"] = reasoning_text;
    }
    if (!content.empty()) delta["content"] = content;
    if (!calls.empty()) {
      called_tools = true;
      delta["tool_calls"] = tool_call_deltas_json(calls);
    }
  }
};

// chat_template_kwargs {"thinking": false}.
bool thinking_turned_off(const json& body) {
  const auto kwargs = body.find("chat_template_kwargs");
  if (kwargs == body.end() || !kwargs->is_object()) return false;
  const auto thinking = kwargs->find("thinking");
  return thinking != kwargs->end() && thinking->is_boolean() && !thinking->get<bool>();
}

}  // namespace

std::string render_chat_prompt(const ServingContext& ctx, const json& body, const json& tools) {
  if (!ctx.chat_template) throw ApiError(400, "this model has no chat template; use /v1/completions", "messages");
  const json messages = normalized_messages(body);
  json kwargs = nullptr;
  if (auto it = body.find("chat_template_kwargs"); it != body.end() && !it->is_null()) {
    if (!it->is_object()) throw ApiError(400, "'chat_template_kwargs' must be an object", "chat_template_kwargs");
    kwargs = *it;
  }
  bool add_generation_prompt = true;
  if (auto it = body.find("add_generation_prompt"); it != body.end() && !it->is_null()) {
    if (!it->is_boolean()) throw ApiError(400, "'add_generation_prompt' must be a boolean", "add_generation_prompt");
    add_generation_prompt = it->get<bool>();
  }
  try {
    return ctx.chat_template->render(messages, tools, add_generation_prompt, kwargs);
  } catch (const InvalidRequest& e) {
    throw ApiError(400, e.what(), "messages");
  }
}

void serve_chat(ServingContext& ctx, const httplib::Request& req, httplib::Response& res) {
  const json body = parse_body(req.body);
  const CompletionSettings settings = parse_completion_settings(body, Endpoint::Chat, ctx.model.generation_defaults());
  check_model_name(settings.model, ctx.served_model_name);
  const ToolSetup tools = read_tools(body, ctx.tool_call_format.has_value());
  const std::string prompt_text = render_chat_prompt(ctx, body, tools.tools);
  // The template wrote any special tokens itself; vLLM adds none.
  const std::vector<int32_t> prompt = ctx.tokenizer.encode(prompt_text);
  if (prompt.empty()) throw ApiError(400, "the rendered chat prompt is empty", "messages");
  GenerationParams params = settings.params;
  params.max_tokens = resolve_max_tokens(settings, int32_t(prompt.size()), ctx.max_model_len, "messages");
  const bool parse_reasoning = ctx.parse_reasoning && !(ctx.thinking_kwarg_switches_reasoning && thinking_turned_off(body));
  const bool starts_in_reasoning = parse_reasoning && ReasoningParser::prompt_opens_reasoning(prompt_text);
  // read_tools refuses parsing when the model has no tool-call format.
  const bool parse_tools = tools.parse && ctx.tool_call_format.has_value();
  if (ctx.markers_are_special && (parse_reasoning || parse_tools) && !body.contains("skip_special_tokens")) {
    params.skip_special_tokens = false;
  }

  auto run = std::make_shared<ChoiceRun>(ctx, std::vector<std::vector<int32_t>>{prompt},
                                         std::vector<GenerationParams>{params}, settings.n);
  const bool want_logprobs = params.logprobs.has_value();
  const Tokenizer& tokenizer = ctx.tokenizer;
  const ToolCallFormat tool_format = ctx.tool_call_format.value_or(ToolCallFormat::Hermes);
  json head = {{"id", random_id("chatcmpl")}, {"object", settings.stream ? "chat.completion.chunk" : "chat.completion"},
               {"created", unix_time()}, {"model", ctx.served_model_name}};

  if (!settings.stream) {
    const size_t n = size_t(run->num_choices());
    std::vector<std::string> texts(n);
    std::vector<json> logprobs(n, json::array());
    std::vector<std::optional<StreamEvent>> finals(n);
    while (!run->finished()) {
      auto item = next_while_connected(*run, req);
      if (!item) continue;
      const size_t i = size_t(item->index);
      texts[i] += item->event.text;
      if (want_logprobs) append_chat_logprobs(logprobs[i], tokenizer, item->event.logprobs);
      if (item->event.finish) finals[i] = std::move(item->event);
    }
    json out = head;
    out["choices"] = json::array();
    UsageTotals usage;
    for (size_t i = 0; i < n; ++i) {
      const StreamEvent& last = *finals[i];
      if (!last.error.empty()) throw generation_error(last.error);
      usage.add(last);
      ReasoningDelta split{"", texts[i]};
      if (parse_reasoning) split = ReasoningParser(starts_in_reasoning, ctx.reasoning_implicit_ends).parse(texts[i]);
      ParsedToolCalls calls{split.content, {}};
      if (parse_tools) calls = ToolCallParser(tool_format, tools.declared).parse(split.content);
      json message = {{"role", "assistant"}};
      message["content"] = calls.content.empty() && !calls.tool_calls.empty() ? json(nullptr) : json(calls.content);
      message["reasoning_content"] = split.reasoning.empty() ? json(nullptr) : json(split.reasoning);
      message["reasoning"] = message["reasoning_content"];
      message["tool_calls"] = tool_calls_json(calls.tool_calls);
      out["choices"].push_back({{"index", i},
                                {"message", std::move(message)},
                                {"logprobs", want_logprobs ? json{{"content", logprobs[i]}} : json(nullptr)},
                                {"finish_reason", finish_reason(*last.finish, !calls.tool_calls.empty())},
                                {"stop_reason", last.stop_string   ? json(*last.stop_string)
                                                : last.stop_token ? json(*last.stop_token)
                                                                  : json(nullptr)}});
    }
    out["usage"] = usage_json(usage);
    res.set_content(json_text(out), "application/json");
    return;
  }

  struct StreamState {
    std::vector<StreamingChoice> choices;
    UsageTotals usage;
    bool sent_roles = false, sent_done = false;
  };
  auto state = std::make_shared<StreamState>();
  for (int32_t i = 0; i < run->num_choices(); ++i) {
    StreamingChoice choice{ReasoningParser(starts_in_reasoning, ctx.reasoning_implicit_ends), std::nullopt, false,
                           parse_reasoning};
    if (parse_tools) choice.tools.emplace(tool_format, tools.declared);
    state->choices.push_back(std::move(choice));
  }
  const bool include_usage = settings.include_usage;
  stream_sse(res, run, [run, state, head, want_logprobs, include_usage, &tokenizer](std::string& out) {
    if (state->sent_done) return false;
    auto chunk_with = [&](json choice) {
      json chunk = head;
      chunk["choices"] = json::array({std::move(choice)});
      if (include_usage) chunk["usage"] = nullptr;
      return sse_frame(json_text(chunk));
    };
    if (!state->sent_roles) {
      for (size_t i = 0; i < state->choices.size(); ++i) {
        out += chunk_with({{"index", i},
                           {"delta", {{"role", "assistant"}, {"content", ""}}},
                           {"logprobs", nullptr},
                           {"finish_reason", nullptr}});
      }
      state->sent_roles = true;
    }
    if (auto item = run->next(std::chrono::milliseconds(200))) {
      const StreamEvent& e = item->event;
      StreamingChoice& choice = state->choices[size_t(item->index)];
      if (!e.error.empty()) {
        out += sse_frame(generation_error(e.error).body());
      } else {
        json delta = json::object();
        choice.add(delta, e.text, e.finish.has_value());
        if (!delta.empty() || e.finish || (want_logprobs && !e.logprobs.empty())) {
          json logprobs = nullptr;
          if (want_logprobs) {
            logprobs = {{"content", json::array()}};
            append_chat_logprobs(logprobs["content"], tokenizer, e.logprobs);
          }
          out += chunk_with({{"index", item->index},
                             {"delta", std::move(delta)},
                             {"logprobs", std::move(logprobs)},
                             {"finish_reason", e.finish ? json(finish_reason(*e.finish, choice.called_tools)) : json(nullptr)}});
        }
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
