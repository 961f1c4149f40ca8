#pragma once
// A long tool-calling session against an OpenAI-compatible chat server, the
// way a thinking agent (Kimi K2 Thinking makes 200-300 sequential tool calls)
// loads it: one user task, then every turn the whole conversation is sent for
// a short greedy completion, and the client appends a scripted assistant
// message (reasoning_content and one tool call with a functions.NAME:N id)
// and the tool's scripted result. The script stands in for the model's
// choices, so a random-weight model gives the server the same growing
// prompts a real agent would. Each turn records the usage the server reports
// (prompt and prefix-cached tokens) and the request's wall time.
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "bench/openai_client.h"

namespace strata::bench {

struct AgenticSessionOptions {
  int turns = 200;
  // Tokens asked of each turn (greedy, ignore_eos). With 1, a turn's wall time
  // is its time to first token: template, tokenization, prefill, one token.
  int max_tokens = 1;
  // Also fetch every turn's prompt ids from POST /tokenize (same messages and
  // tools), to check that each turn's prompt extends the previous one; its
  // time is the template's and the tokenizer's share of the turn.
  bool tokenize = false;
  // Named in the user's task: sessions with other numbers share only the
  // tool declaration and system prompt with this one in the prefix cache.
  int session = 0;
};

struct AgenticTurn {
  int turn = 0;      // 1-based
  int messages = 0;  // in the request
  int prompt_tokens = 0, cached_tokens = 0, completion_tokens = 0;
  double seconds = 0;               // wall time of the (non-streamed) request
  std::vector<int32_t> prompt_ids;  // from /tokenize, when asked for
  double tokenize_seconds = 0;      // wall time of that /tokenize request
};

// The tools every request declares.
nlohmann::json agentic_session_tools();

// Runs the session through `client` (its model must be set), calling
// `on_turn` after each turn. Throws strata::Error on a failed request or a
// reply without usage.
std::vector<AgenticTurn> run_agentic_session(const OpenAIClient& client, const AgenticSessionOptions& options,
                                             const std::function<void(const AgenticTurn&)>& on_turn = {});

struct AgenticSummary {
  int64_t prompt_tokens = 0, cached_tokens = 0;  // summed over the turns
  double cached_fraction = 0;                    // cached / prompt
};
AgenticSummary summarize(const std::vector<AgenticTurn>& turns);

// The summary over all sessions (the same script, one after another, under
// their own task) and a table of the turns 1, 10%, 25%, 50%, 75% and the
// last: the first session's prompt, cached and new tokens, and wall time
// (and /tokenize time when fetched) as the minimum over the sessions.
std::string agentic_report(const std::vector<std::vector<AgenticTurn>>& sessions);

}  // namespace strata::bench
