#include "bench/agentic_session.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>

#include "bench/metrics.h"
#include "core/error.h"

namespace strata::bench {

namespace {

using nlohmann::json;

struct ScriptedTool {
  const char* name;
  const char* description;
  const char* argument;  // the one string parameter
};

constexpr std::array<ScriptedTool, 3> kTools = {{
    {"read_file", "Read a file of the repository", "path"},
    {"run_shell", "Run a shell command in the repository", "command"},
    {"search_code", "Search the repository for text", "query"},
}};

// The scripted call of turn `k` (1-based) and what it asks for.
const ScriptedTool& tool_of(int k) { return kTools[size_t(k - 1) % kTools.size()]; }

std::string argument_of(int k) {
  switch ((k - 1) % 3) {
    case 0: return fmt::format("src/cache/module_{}.cpp", k);
    case 1: return fmt::format("grep -n evict src/cache/module_{}.cpp", k);
    default: return fmt::format("prefix cache miss after turn {}", k);
  }
}

json assistant_tool_call(int k) {
  const ScriptedTool& tool = tool_of(k);
  // Kimi's ids: functions.NAME:N with N counting the conversation's calls from 0.
  const std::string id = fmt::format("functions.{}:{}", tool.name, k - 1);
  return {{"role", "assistant"},
          {"content", ""},
          {"reasoning_content", fmt::format("Step {}: the last result narrows it down. Next I use {} on module {} to "
                                            "see how it keeps and evicts cached blocks.",
                                            k, tool.name, k)},
          {"tool_calls", json::array({{{"id", id},
                                       {"type", "function"},
                                       {"function",
                                        {{"name", tool.name},
                                         {"arguments", json{{tool.argument, argument_of(k)}}.dump()}}}}})}};
}

json tool_result(int k) {
  return {{"role", "tool"},
          {"tool_call_id", fmt::format("functions.{}:{}", tool_of(k).name, k - 1)},
          {"content", fmt::format("{} lines. module_{} keeps {} blocks keyed by their hash chain; unreferenced "
                                  "blocks go to an LRU list and are evicted oldest first.",
                                  40 + (7 * k) % 90, k, 16 * k)}};
}

// The user's task, naming the session so that sessions share no more than
// the tool declaration and the system prompt.
json user_task(int session) {
  return {{"role", "user"},
          {"content", fmt::format("Session {}: our inference server's prefix cache misses after long agent sessions. "
                                  "Use the tools to find out why, one step at a time, then explain it.",
                                  session)}};
}

int usage_int(const json& usage, const char* key) {
  const auto it = usage.find(key);
  return it != usage.end() && it->is_number_integer() ? it->get<int>() : -1;
}

}  // namespace

json agentic_session_tools() {
  json tools = json::array();
  for (const ScriptedTool& t : kTools) {
    tools.push_back({{"type", "function"},
                     {"function",
                      {{"name", t.name},
                       {"description", t.description},
                       {"parameters",
                        {{"type", "object"},
                         {"properties", {{t.argument, {{"type", "string"}}}}},
                         {"required", {t.argument}}}}}}});
  }
  return tools;
}

std::vector<AgenticTurn> run_agentic_session(const OpenAIClient& client, const AgenticSessionOptions& options,
                                             const std::function<void(const AgenticTurn&)>& on_turn) {
  if (options.turns < 1) fail("agentic session: --turns must be at least 1 (got {})", options.turns);
  if (options.max_tokens < 1) fail("agentic session: --max-tokens must be at least 1 (got {})", options.max_tokens);
  const std::string& model = client.options().model;
  const json tools = agentic_session_tools();
  json messages = json::array({user_task(options.session)});
  std::vector<AgenticTurn> turns;
  for (int k = 1; k <= options.turns; ++k) {
    if (k > 1) {
      messages.push_back(assistant_tool_call(k - 1));
      messages.push_back(tool_result(k - 1));
    }
    AgenticTurn turn;
    turn.turn = k;
    turn.messages = int(messages.size());
    if (options.tokenize) {
      const auto reply = client.post("/tokenize", json{{"model", model}, {"messages", messages}, {"tools", tools}}.dump());
      const json body = json::parse(reply.body, nullptr, false);
      if (reply.status != 200 || !body.contains("tokens"))
        fail("agentic session, turn {}: POST /tokenize: HTTP {}: {}", k, reply.status, reply.body.substr(0, 200));
      turn.prompt_ids = body["tokens"].get<std::vector<int32_t>>();
      turn.tokenize_seconds = reply.seconds;
    }
    const json request = {{"model", model},       {"messages", messages},          {"tools", tools},
                          {"temperature", 0},     {"max_tokens", options.max_tokens}, {"ignore_eos", true}};
    const auto reply = client.post("/v1/chat/completions", request.dump());
    const json body = json::parse(reply.body, nullptr, false);
    if (reply.status != 200 || !body.contains("usage") || !body["usage"].is_object())
      fail("agentic session, turn {}: HTTP {}: {}", k, reply.status, reply.body.substr(0, 200));
    const json& usage = body["usage"];
    turn.prompt_tokens = usage_int(usage, "prompt_tokens");
    turn.completion_tokens = usage_int(usage, "completion_tokens");
    const json details = usage.value("prompt_tokens_details", json::object());
    turn.cached_tokens = details.is_object() ? usage_int(details, "cached_tokens") : -1;
    if (turn.prompt_tokens < 0 || turn.cached_tokens < 0)
      fail("agentic session, turn {}: the usage lacks prompt_tokens or prompt_tokens_details.cached_tokens: {}", k,
           usage.dump());
    turn.seconds = reply.seconds;
    turns.push_back(std::move(turn));
    if (on_turn) on_turn(turns.back());
  }
  return turns;
}

AgenticSummary summarize(const std::vector<AgenticTurn>& turns) {
  AgenticSummary s;
  for (const AgenticTurn& t : turns) {
    s.prompt_tokens += t.prompt_tokens;
    s.cached_tokens += t.cached_tokens;
  }
  s.cached_fraction = s.prompt_tokens > 0 ? double(s.cached_tokens) / double(s.prompt_tokens) : 0.0;
  return s;
}

std::string agentic_report(const std::vector<std::vector<AgenticTurn>>& sessions) {
  if (sessions.empty() || sessions.front().empty()) return "no turns\n";
  const std::vector<AgenticTurn>& first = sessions.front();
  const int n = int(first.size());
  AgenticSummary s;
  for (const auto& turns : sessions) {
    if (turns.size() != first.size()) fail("agentic report: the sessions have different numbers of turns");
    const AgenticSummary one = summarize(turns);
    s.prompt_tokens += one.prompt_tokens;
    s.cached_tokens += one.cached_tokens;
  }
  s.cached_fraction = s.prompt_tokens > 0 ? double(s.cached_tokens) / double(s.prompt_tokens) : 0.0;
  std::string out = fmt::format("{} session{} of {} turns: {} prompt tokens, {} of them prefix-cached ({:.1f}%)\n",
                                sessions.size(), sessions.size() > 1 ? "s" : "", n, s.prompt_tokens, s.cached_tokens,
                                100.0 * s.cached_fraction);
  // Times are noisy on a shared machine: a turn's time is its minimum over
  // the sessions (the least disturbed run), and the median of the (up to) 10
  // turns ending at it is shown beside it.
  auto fastest = [&](int k, double AgenticTurn::*seconds) {
    double best = sessions.front()[size_t(k - 1)].*seconds;
    for (const auto& turns : sessions) best = std::min(best, turns[size_t(k - 1)].*seconds);
    return best;
  };
  auto median_ms = [&](int k, double AgenticTurn::*seconds) {
    std::vector<double> window;
    for (int i = std::max(1, k - 9); i <= k; ++i) window.push_back(fastest(i, seconds));
    return 1000 * percentile(std::move(window), 50);
  };
  const bool tokenized = !first.front().prompt_ids.empty();
  out += fmt::format("{:>6} {:>9} {:>14} {:>14} {:>11} {:>11} {:>17}{}\n", "turn", "messages", "prompt tokens",
                     "cached tokens", "new tokens", "wall ms", "median ms (10)",
                     tokenized ? "  /tokenize median ms (10)" : "");
  std::vector<int> rows = {1, n / 10, n / 4, n / 2, 3 * n / 4, n};
  rows.erase(std::remove_if(rows.begin(), rows.end(), [](int k) { return k < 1; }), rows.end());
  rows.erase(std::unique(rows.begin(), rows.end()), rows.end());
  for (int k : rows) {
    const AgenticTurn& t = first[size_t(k - 1)];
    out += fmt::format("{:>6} {:>9} {:>14} {:>14} {:>11} {:>11.1f} {:>17.1f}{}\n", t.turn, t.messages, t.prompt_tokens,
                       t.cached_tokens, t.prompt_tokens - t.cached_tokens, 1000 * fastest(k, &AgenticTurn::seconds),
                       median_ms(k, &AgenticTurn::seconds),
                       tokenized ? fmt::format("{:>26.1f}", median_ms(k, &AgenticTurn::tokenize_seconds)) : "");
  }
  return out;
}

}  // namespace strata::bench
