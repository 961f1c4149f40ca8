#pragma once
// The serving engine: continuous batching over one model. Requests are
// submitted and aborted from any thread; one step at a time, the scheduler
// plans, the executor runs the plan, and every sequence that produced logits
// samples a token, checks its stop conditions and streams an event.
//
//   Engine engine(model, config);
//   auto stream = engine.submit({prompt_ids, params});  // throws Error if it can never run
//   engine.start();                                     // or call engine.step() yourself
//   while (auto event = stream->next()) { ... event->text ... event->finish ... }
//   engine.abort(stream->id());
//
// A request's life: Waiting -> Prefilling -> Decoding -> Finished (or Aborted
// at any point; preemption sends it back to Waiting to be recomputed).
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "engine/request.h"
#include "engine/scheduler.h"
#include "engine/speculative_config.h"
#include "engine/step_stats.h"

namespace strata {

class Model;
class BlockManager;
class PagedKVCache;
class Executor;
class Proposer;

struct EngineConfig {
  std::string schedule = "layered";  // layered, chunked, whole or slo
  int32_t max_num_seqs = 256;
  int32_t max_num_batched_tokens = 0;  // 0: the policy's default (512 chunked, 8192 layered)
  int32_t num_stages = 16;             // layered: G
  StageRule stage_rule = StageRule::Paper;
  int32_t tokens_per_stage = 512;
  // slo: the TBT target steps are sized to, and the step-time estimate they
  // are sized with (tools/slo_schedule.h builds it from a fitted profile).
  double tbt_slo_ms = 125;
  StepSecondsEstimate step_seconds;
  std::string kv_budget = "4GiB";  // "<x>GiB", "<x>MiB" or "<x>%" of RAM
  int32_t num_kv_blocks = 0;       // > 0 overrides kv_budget (tests)
  int32_t block_size = 16;
  bool prefix_caching = true;
  int32_t max_model_len = 0;  // 0: the model's (ModelConfig::max_context_length)
  // Keep every StepStats and finished RequestRecord for take_*() (benchmarks).
  bool record_history = false;
  uint64_t seed = 0;  // seeds for requests that give none
  // Off unless a method is set: each decode then verifies up to
  // num_speculative_tokens proposed tokens per step.
  SpeculativeConfig speculative;
  // Fault injection for tests: runs at the start of every step, so a test can
  // fail a step (throw std::exception), stop the loop (throw anything else)
  // or stall it.
  std::function<void()> before_step;
};

class Engine {
 public:
  Engine(const Model& model, const EngineConfig& config);
  ~Engine();  // stops the loop; unfinished requests are dropped
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Queues a request. Throws Error for bad parameters or a request that can
  // never fit (too long for max_model_len or the whole KV cache).
  std::shared_ptr<RequestStream> submit(Request request);
  // Cancels a request (its final event has finish = Abort); unknown or
  // finished ids are ignored. Takes effect before the next step.
  void abort(int64_t id);

  // Runs the loop on its own thread until stop().
  void start();
  void stop();
  // One step on the calling thread (do not mix with start()). Returns false
  // when there was nothing to run.
  bool step();
  bool has_unfinished() const;
  // False once the background loop has stopped on an error it could not
  // recover from; /health reports 503 then.
  bool loop_alive() const { return !loop_died_; }

  EngineCounters counters() const;
  // Records kept since the last call (only with record_history).
  std::vector<StepStats> take_step_stats();
  std::vector<RequestRecord> take_request_records();
  // Seconds on the engine's clock (the time base of all records).
  double now() const;

  const EngineConfig& config() const { return config_; }
  const Scheduler& scheduler() const { return *scheduler_; }
  const BlockManager& block_manager() const { return *blocks_; }
  // Speculative decoding's proposer (tests inspect a draft model's cache); null when off.
  const Proposer* proposer() const { return proposer_.get(); }
  size_t num_saved_activations() const;

 private:
  struct Live;

  void process_aborts(std::vector<std::pair<std::shared_ptr<Live>, StreamEvent>>& out);
  // One step's work; the events it produces are left in `events` for step()
  // to deliver, even when the step throws half-way.
  bool run_step(std::vector<std::pair<std::shared_ptr<Live>, StreamEvent>>& events);
  // Gives every decoding sequence its draft for the next step.
  void propose_drafts(const std::vector<Sequence*>& decoding);
  // Samples the next token(s) of `live` from plan entry `entry`'s logits
  // (verifying its draft, if any) and updates its state; returns the event
  // to deliver (empty token list if nothing to say).
  StreamEvent advance(Live& live, const PlanEntry& e, int32_t entry, double time);
  // Samples one token from `logits`, appends it to the output and applies the
  // stop conditions (which may finish the request); returns the token.
  int32_t append_token(Live& live, float* logits, double time, StreamEvent& event);
  void finish(Live& live, FinishReason reason, StreamEvent& event);
  void deliver(std::vector<std::pair<std::shared_ptr<Live>, StreamEvent>>& events);
  // After an executor failure: every live request ends with the error.
  void abort_all(const std::string& error);
  void loop();

  const Model& model_;
  EngineConfig config_;
  std::vector<int32_t> eos_ids_;
  int32_t tokenizer_vocab_ = 0;
  std::unique_ptr<BlockManager> blocks_;
  std::unique_ptr<PagedKVCache> kv_;
  std::unique_ptr<Executor> executor_;
  std::unique_ptr<Scheduler> scheduler_;
  std::unique_ptr<Proposer> proposer_;  // null: no speculative decoding

  const std::chrono::steady_clock::time_point epoch_ = std::chrono::steady_clock::now();

  // Guards everything below plus the scheduler's queues; released while
  // the executor runs a plan so that submit() never waits for a step.
  mutable std::mutex mutex_;
  std::condition_variable work_;
  std::unordered_map<int64_t, std::shared_ptr<Live>> live_;
  std::vector<int64_t> pending_aborts_;
  int64_t next_id_ = 0;
  std::mt19937_64 seed_rng_;
  EngineCounters counters_;
  std::vector<StepStats> step_history_;
  std::vector<RequestRecord> request_history_;

  std::thread thread_;
  std::atomic<bool> stop_requested_{false};
  std::atomic<bool> loop_died_{false};
};

}  // namespace strata
