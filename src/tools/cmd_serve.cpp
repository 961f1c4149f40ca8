// `strata serve`: the OpenAI-compatible HTTP server over the engine.
// Start-up: listen first (/health answers 503 while the model loads), load,
// start the engine, serve. SIGTERM or SIGINT: refuse new requests (503),
// let in-flight ones finish for up to --shutdown-timeout seconds, exit 0.
#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include <pthread.h>
#include <signal.h>

#include <chrono>

#include "core/error.h"
#include "engine/engine.h"
#include "engine/scheduler.h"
#include "kernels/solution_registry.h"
#include "model/model.h"
#include "server/http_server.h"
#include "server/request_runner.h"
#include "tools/commands.h"
#include "tools/engine_options.h"
#include "tools/slo_schedule.h"
#include "workbench/workload_capture.h"

namespace strata {
namespace {

struct ServeOptions {
  std::string model;
  HttpServerOptions http;
  ServingOptions serving;
  EngineConfig engine;
  std::string cost_profile;  // slo schedule
  double shutdown_timeout = 30;
  CaptureOptions capture;
};

// Blocks SIGINT and SIGTERM in this thread and every thread started after,
// so that only sigwait() sees them.
sigset_t block_shutdown_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  return set;
}

void run_serve(ServeOptions o) {
  const sigset_t shutdown_signals = block_shutdown_signals();
  // A client that disconnects mid-write must not kill the server.
  signal(SIGPIPE, SIG_IGN);

  if (o.serving.served_model_name.empty()) o.serving.served_model_name = o.model;
  o.serving.model_root = o.model;
  if (o.shutdown_timeout < 0) fail("--shutdown-timeout must be >= 0");

  HttpServer http(o.http);
  const int port = http.bind();
  http.start();
  fmt::print(stderr, "strata serve: listening on http://{}:{} (loading {})\n", o.http.host, port, o.model);

  auto model = Model::load(o.model, {.mtp = o.engine.speculative.needs_mtp_modules()});
  if (!o.capture.dir.empty()) start_workload_capture(o.capture);
  prepare_slo_schedule(*model, o.model, o.cost_profile, o.engine);
  Engine engine(*model, o.engine);
  ServingContext ctx(*model, engine, o.serving);
  engine.start();
  http.attach(ctx);
  std::string paths;
  for (const auto& [definition, solution] : numeric_path_selections())
    paths += fmt::format(", {} {}", definition, numeric_path_name(solution->path));
  fmt::print(stderr, "strata serve: serving '{}' (max_model_len {}, schedule {}{})\n", ctx.served_model_name,
             ctx.max_model_len, o.engine.schedule, paths);

  int signal_number = 0;
  sigwait(&shutdown_signals, &signal_number);
  fmt::print(stderr, "strata serve: {} received; draining for up to {} s\n", strsignal(signal_number),
             o.shutdown_timeout);
  http.begin_drain();
  const auto timeout = std::chrono::milliseconds(int64_t(o.shutdown_timeout * 1000));
  if (!http.drain(timeout)) {
    fmt::print(stderr, "strata serve: {} request(s) still running at the timeout; aborting them\n",
               ctx.admission.in_progress());
    // They end with their final (aborted) events while the engine still runs.
    ctx.admission.abort_all();
    http.drain(std::chrono::seconds(5));
  }
  engine.stop();
  http.stop();
  if (!o.capture.dir.empty()) {
    fmt::print(stderr, "strata serve: {} workloads recorded in {}\n", flush_workload_capture(), o.capture.dir);
  }
  fmt::print(stderr, "strata serve: stopped\n");
}

}  // namespace

void add_serve_command(CLI::App& app) {
  auto o = std::make_shared<ServeOptions>();
  auto* cmd = app.add_subcommand("serve", "Serve a model over an OpenAI-compatible HTTP API");
  cmd->add_option("--model", o->model, "Hugging Face model folder or .gguf file")->required();
  cmd->add_option("--host", o->http.host, "Address to listen on")->capture_default_str();
  cmd->add_option("--port", o->http.port, "Port to listen on (0: any free port)")->capture_default_str();
  cmd->add_option("--api-key", o->http.api_key, "Require 'Authorization: Bearer KEY' on every route but /health")
      ->envname("STRATA_API_KEY");
  cmd->add_option("--served-model-name", o->serving.served_model_name, "Model name clients use (default: --model)");
  o->engine.schedule = "slo";  // serving's default: steps sized to --tbt-slo-ms
  add_schedule_options(*cmd, o->engine);
  add_slo_schedule_options(*cmd, o->engine, o->cost_profile);
  add_capacity_options(*cmd, o->engine);
  add_speculative_option(*cmd, o->engine);
  add_kernel_table_option(*cmd);
  add_trace_workloads_options(*cmd, o->capture);
  cmd->add_option("--seed", o->engine.seed, "Seed for requests that give none")->capture_default_str();
  cmd->add_option("--max-queued-requests", o->serving.max_queued_requests,
                  "Requests waiting for their first token before new ones get 429")
      ->capture_default_str();
  cmd->add_option("--max-pending-events", o->serving.max_pending_events,
                  "Events one request may hold for a client that reads its stream more slowly than tokens come; "
                  "past them the request is aborted")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--shutdown-timeout", o->shutdown_timeout,
                  "Seconds in-flight requests may take to finish after SIGTERM/SIGINT")
      ->capture_default_str();
  cmd->add_option("--max-request-bytes", o->http.max_request_bytes, "Largest request body (larger: 413)")
      ->capture_default_str();
  cmd->add_option("--http-threads", o->http.http_threads,
                  "Connections served at once (threads start on demand; more connections wait)")
      ->capture_default_str();
  cmd->add_option("--idle-timeout", o->http.idle_timeout_seconds,
                  "Seconds a connection may stay silent (no request, a stalled body, an unread response)")
      ->capture_default_str();
  cmd->add_option("--tool-call-parser", o->serving.tool_call_parser,
                  "Tool-call format: auto (from the chat template), hermes, qwen3, kimi_k2, minimax_m2 or none")
      ->capture_default_str();
  cmd->callback([o] { run_serve(*o); });
}

}  // namespace strata
