// `strata bench agentic`: a long scripted tool-calling session against an
// OpenAI-compatible chat server (bench/agentic_session.h): how much of each
// turn's prompt the prefix cache serves and how the time to first token
// grows with the conversation.
#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include <cstdio>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <vector>

#include "bench/agentic_session.h"
#include "core/error.h"
#include "tools/commands.h"

namespace strata {

namespace {

struct BenchAgenticArgs {
  bench::ClientOptions client;
  bench::AgenticSessionOptions session;
  int sessions = 1;
  std::string output_json;
  bool progress = false;
};

void run_bench_agentic(BenchAgenticArgs& a) {
  if (a.sessions < 1) fail("--sessions must be at least 1 (got {})", a.sessions);
  a.client.endpoint = bench::Endpoint::ChatCompletions;
  if (a.client.model.empty()) a.client.model = bench::OpenAIClient(a.client).first_model();
  const bench::OpenAIClient client(a.client);
  std::vector<std::vector<bench::AgenticTurn>> sessions;
  for (int i = 0; i < a.sessions; ++i) {
    a.session.session = i;
    sessions.push_back(bench::run_agentic_session(client, a.session, [&](const bench::AgenticTurn& t) {
      if (a.progress)
        fmt::print(stderr, "session {} turn {}: {} prompt tokens, {} cached, {:.1f} ms\n", i, t.turn, t.prompt_tokens,
                   t.cached_tokens, 1000 * t.seconds);
    }));
  }
  fmt::print("{}", bench::agentic_report(sessions));
  if (a.output_json.empty()) return;
  nlohmann::json out_sessions = nlohmann::json::array();
  for (const auto& turns : sessions) {
    nlohmann::json records = nlohmann::json::array();
    for (const auto& t : turns) {
      records.push_back({{"turn", t.turn},
                         {"messages", t.messages},
                         {"prompt_tokens", t.prompt_tokens},
                         {"cached_tokens", t.cached_tokens},
                         {"completion_tokens", t.completion_tokens},
                         {"seconds", t.seconds}});
      if (a.session.tokenize) records.back()["tokenize_seconds"] = t.tokenize_seconds;
    }
    const bench::AgenticSummary s = bench::summarize(turns);
    out_sessions.push_back({{"prompt_tokens", s.prompt_tokens},
                            {"cached_tokens", s.cached_tokens},
                            {"cached_fraction", s.cached_fraction},
                            {"turns", records}});
  }
  std::ofstream out(a.output_json);
  out << nlohmann::json{{"sessions", out_sessions}}.dump(2) << "\n";
  if (!out) fail("--output-json: cannot write '{}'", a.output_json);
}

}  // namespace

void add_bench_agentic_command(CLI::App& bench) {
  auto a = std::make_shared<BenchAgenticArgs>();
  auto* cmd = bench.add_subcommand(
      "agentic", "A scripted tool-calling session against a chat server: prefix-cache hits and time per turn");
  cmd->add_option("--base-url", a->client.base_url, "Server URL")->capture_default_str();
  cmd->add_option("--model", a->client.model, "Model name (default: the first of GET /v1/models)");
  cmd->add_option("--api-key", a->client.api_key, "Sent as a Bearer token");
  cmd->add_option("--turns", a->session.turns, "Requests, each one tool call and result longer")
      ->capture_default_str();
  cmd->add_option("--max-tokens", a->session.max_tokens,
                  "Tokens asked per turn (1: a turn's wall time is its time to first token)")
      ->capture_default_str();
  cmd->add_option("--sessions", a->sessions,
                  "Run the session this many times, each under its own task; times are per-turn minima")
      ->capture_default_str();
  cmd->add_flag("--tokenize", a->session.tokenize,
                "Also time POST /tokenize of each turn's messages (the template's and tokenizer's share)");
  cmd->add_option("--output-json", a->output_json, "Write the summary and every turn's record here");
  cmd->add_flag("--progress", a->progress, "Print every turn to stderr as it completes");
  cmd->callback([a] { run_bench_agentic(*a); });
}

}  // namespace strata
