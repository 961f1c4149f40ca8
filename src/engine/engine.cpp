#include "engine/engine.h"

#include <algorithm>
#include <optional>

#include <fmt/core.h>

#include "core/error.h"
#include "core/service_errors.h"
#include "core/op_profile.h"
#include "engine/block_manager.h"
#include "engine/executor.h"
#include "engine/logits_processors.h"
#include "engine/paged_kv_cache.h"
#include "engine/proposer.h"
#include "engine/sampler.h"
#include "engine/stop_checker.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"

namespace strata {

struct Engine::Live {
  Live(Request& request, const Tokenizer& tokenizer, const SamplingParams& sampling)
      : params(std::move(request.params)),
        sampler(sampling),
        decoder(tokenizer, params.skip_special_tokens),
        stop(params.stop, params.include_stop_str_in_output),
        on_event(std::move(request.on_event)) {
    seq.prompt = std::move(request.prompt);
    seq.max_tokens = params.max_tokens;
  }

  Sequence seq;
  GenerationParams params;
  Sampler sampler;
  StreamDecoder decoder;
  StopChecker stop;
  std::shared_ptr<RequestStream> stream;
  std::function<void(const StreamEvent&)> on_event;
  RequestRecord record;
  std::vector<float> raw_logits;  // for logprobs, when penalties edit the logits
};

namespace {

bool contains(const std::vector<int32_t>& ids, int32_t id) { return std::find(ids.begin(), ids.end(), id) != ids.end(); }

}  // namespace

Engine::Engine(const Model& model, const EngineConfig& config) : model_(model), config_(config) {
  const ModelConfig& mc = model.config();
  if (config_.max_model_len <= 0) config_.max_model_len = int32_t(mc.max_context_length());
  if (config_.max_model_len > mc.max_context_length()) {
    fail("--max-model-len {} exceeds the model's maximum context of {} tokens", config_.max_model_len,
         mc.max_context_length());
  }
  if (config_.block_size <= 0) fail("--block-size must be positive (got {})", config_.block_size);
  // The budget pays for every layer holding a block per target block: the
  // MTP module's cache is one more layer of the target's shapes.
  ModelConfig cached_layers = mc;
  if (config_.speculative.enabled() && config_.speculative.needs_mtp_modules()) cached_layers.num_hidden_layers += 1;
  const int32_t num_blocks =
      config_.num_kv_blocks > 0
          ? config_.num_kv_blocks
          : num_kv_blocks_for_budget(parse_kv_budget(config_.kv_budget), cached_layers, config_.block_size);
  const int32_t max_num_batched_tokens = config_.max_num_batched_tokens > 0
                                             ? config_.max_num_batched_tokens
                                             : default_max_num_batched_tokens(config_.schedule);
  // First, so that a draft model that cannot be used stops start-up before anything is logged.
  if (config_.speculative.enabled()) {
    proposer_ = make_proposer(config_.speculative, model, num_blocks, config_.block_size, max_num_batched_tokens);
    counters_.spec_accepted_per_pos.assign(size_t(config_.speculative.num_speculative_tokens), 0);
  }
  fmt::print(stderr, "strata: KV cache: {} bytes per token ({} layers x {} floats, f32), {} blocks of {} tokens\n",
             kv_bytes_per_token(cached_layers), cached_layers.num_hidden_layers,
             mc.kv_key_floats() + mc.kv_value_floats(), num_blocks,
             config_.block_size);
  SchedulerConfig sc;
  sc.num_layers = int32_t(mc.num_hidden_layers);
  sc.max_model_len = config_.max_model_len;
  sc.max_num_seqs = config_.max_num_seqs;
  sc.max_num_batched_tokens = max_num_batched_tokens;
  sc.num_stages = config_.num_stages;
  sc.stage_rule = config_.stage_rule;
  sc.tokens_per_stage = config_.tokens_per_stage;
  sc.tbt_slo_seconds = config_.tbt_slo_ms / 1000;
  if (config_.schedule == "slo" && !(config_.tbt_slo_ms > 0))
    fail("--schedule slo needs a positive --tbt-slo-ms (got {})", config_.tbt_slo_ms);
  auto policy = make_schedule_policy(config_.schedule, config_.step_seconds);
  blocks_ = std::make_unique<BlockManager>(num_blocks, config_.block_size, config_.prefix_caching);
  kv_ = std::make_unique<PagedKVCache>(mc, num_blocks, config_.block_size);
  executor_ = std::make_unique<Executor>(model, *kv_);
  scheduler_ = std::make_unique<Scheduler>(sc, *blocks_, std::move(policy));
  eos_ids_ = model.tokenizer().eos_ids();
  tokenizer_vocab_ = model.tokenizer().vocab_size();
  seed_rng_.seed(config_.seed);
}

Engine::~Engine() { stop(); }

double Engine::now() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - epoch_).count();
}

std::shared_ptr<RequestStream> Engine::submit(Request request) {
  if (loop_died_) throw Unavailable("the engine loop has stopped; restart the server");
  const double arrival = now();
  request.params.validate();
  const int64_t vocab = model_.config().vocab_size;
  for (int32_t id : request.prompt) {
    if (id < 0 || id >= vocab) refuse("request: prompt token id {} is outside the vocabulary of {} tokens", id, vocab);
  }
  std::shared_ptr<Live> live;
  {
    std::lock_guard lock(mutex_);
    SamplingParams sampling = request.params.sampling;
    sampling.seed = request.params.seed ? *request.params.seed : seed_rng_();
    live = std::make_shared<Live>(request, model_.tokenizer(), sampling);
    live->seq.id = next_id_++;
    live->stream = std::make_shared<RequestStream>(live->seq.id);
    live->record.id = live->seq.id;
    live->record.arrival = arrival;
    live->record.prompt_tokens = int32_t(live->seq.prompt.size());
    try {
      scheduler_->add(live->seq);
    } catch (const Error&) {
      counters_.requests_rejected++;
      throw;
    }
    counters_.requests_submitted++;
    live_.emplace(live->seq.id, live);
  }
  work_.notify_all();
  return live->stream;
}

void Engine::abort(int64_t id) {
  {
    std::lock_guard lock(mutex_);
    pending_aborts_.push_back(id);
  }
  work_.notify_all();
}

void Engine::process_aborts(std::vector<std::pair<std::shared_ptr<Live>, StreamEvent>>& out) {
  for (int64_t id : pending_aborts_) {
    auto it = live_.find(id);
    if (it == live_.end()) continue;
    std::shared_ptr<Live> live = it->second;
    StreamEvent event;
    event.request_id = id;
    finish(*live, FinishReason::Abort, event);
    out.emplace_back(std::move(live), std::move(event));
  }
  pending_aborts_.clear();
}

bool Engine::step() {
  std::vector<std::pair<std::shared_ptr<Live>, StreamEvent>> events;
  try {
    const bool ran = run_step(events);
    deliver(events);
    return ran;
  } catch (...) {
    // Requests already finished or aborted in this step have left live_, so
    // abort_all() would not reach them: hand them their final events now.
    deliver(events);
    throw;
  }
}

bool Engine::run_step(std::vector<std::pair<std::shared_ptr<Live>, StreamEvent>>& events) {
  if (config_.before_step) config_.before_step();
  StepPlan plan;
  double start = 0;
  std::vector<Sequence*> decoding;
  {
    std::lock_guard lock(mutex_);
    process_aborts(events);
    start = now();
    if (proposer_) {
      for (Sequence* seq : scheduler_->state().running) {
        if (seq->state == SeqState::Decoding) decoding.push_back(seq);
      }
    }
  }
  // Outside the lock (a draft model's passes must not hold up submit()):
  // running sequences change only on this thread.
  if (proposer_) propose_drafts(decoding);
  {
    std::lock_guard lock(mutex_);
    plan = scheduler_->schedule();
  }
  // A preempted sequence is recomputed from the start: its shadow's KV would only sit in the proposer's cache.
  if (proposer_) {
    for (int64_t id : plan.preempted) proposer_->release(id);
  }
  // The lock is free while the model runs: submit() only appends to the
  // waiting queue and abort() only records the id, neither touches the plan.
  ForwardStats forward;
  if (!plan.empty() || !plan.dropped_activations.empty()) executor_->run(plan, &forward);
  if (plan.empty()) return false;
  const double ran = now() - start;
  {
    std::lock_guard lock(mutex_);
    scheduler_->on_step_done(plan, ran);
    const double sampled_at = now();
    for (size_t i = 0; i < plan.entries.size(); ++i) {
      const PlanEntry& e = plan.entries[i];
      if (!e.needs_logits) continue;
      std::shared_ptr<Live> live = live_.at(e.seq->id);
      StreamEvent event = advance(*live, e, int32_t(i), sampled_at);
      events.emplace_back(std::move(live), std::move(event));
    }
    StepStats s;
    s.index = counters_.steps++;
    s.start = start;
    s.duration = now() - start;
    s.num_seqs = int32_t(plan.entries.size());
    s.prefill_tokens = plan.num_prefill_tokens;
    s.decode_tokens = plan.num_decode_tokens;
    for (const PlanEntry& e : plan.entries) s.draft_tokens += e.num_draft_tokens;
    s.preempted = int32_t(plan.preempted.size());
    for (const LayerSegment& segment : layer_segments(plan)) {
      int64_t rows = 0;
      for (int32_t index : segment.entries) rows += plan.entries[size_t(index)].num_tokens();
      s.segments.push_back({segment.layer_begin, segment.layer_end, rows});
    }
    s.layer_rows = executor_->last_layer_rows();
    s.moe_calls = forward.moe_calls;
    s.experts_touched = forward.experts_touched;
    s.expert_bytes = forward.expert_bytes;
    counters_.preemptions += s.preempted;
    counters_.prefill_tokens += s.prefill_tokens;
    counters_.decode_tokens += s.decode_tokens;
    counters_.layer_rows += s.layer_rows;
    counters_.moe_calls += s.moe_calls;
    counters_.experts_touched += s.experts_touched;
    counters_.expert_bytes += s.expert_bytes;
    counters_.busy_seconds += s.duration;
    if (config_.record_history) step_history_.push_back(std::move(s));
  }
  // Outside the lock, like the proposals; after sampling, so that the
  // proposer knows which draft tokens were accepted and which tokens follow.
  if (proposer_) {
    std::vector<const float*> hidden;
    for (size_t i = 0; i < plan.entries.size(); ++i) hidden.push_back(executor_->final_hidden(int32_t(i)));
    proposer_->observe(plan, hidden);
  }
  return true;
}

void Engine::propose_drafts(const std::vector<Sequence*>& decoding) {
  std::vector<const Sequence*> seqs(decoding.begin(), decoding.end());
  std::vector<int32_t> max_tokens;
  for (const Sequence* seq : decoding) {
    // The step emits the accepted tokens plus one: never past max_tokens.
    const int32_t room = seq->max_tokens - int32_t(seq->output.size()) - 1;
    max_tokens.push_back(std::min(config_.speculative.num_speculative_tokens, room));
  }
  std::vector<std::vector<int32_t>> drafts = proposer_->propose_all(seqs, max_tokens);
  for (size_t i = 0; i < decoding.size(); ++i) decoding[i]->draft = std::move(drafts[i]);
}

// Verification: row j's logits follow the draft's first j tokens. A token is
// sampled from each row in turn, exactly as decoding one token per step
// would (same penalties, same sampler state); the draft's token j is
// accepted when row j sampled it, and the first mismatch (or the row after
// the whole draft) gives the step's last token. Greedy, this is the longest
// matching prefix plus the next token. At temperature > 0 it is rejection
// sampling for a proposal that puts all its mass q on the draft token d:
// accepting d with probability min(1, p(d) / q(d)) = p(d) and otherwise
// drawing from max(0, p - q) normalized (p without d) gives every token
// its probability p, which is what drawing t ~ p and comparing t with d
// gives too, with one draw per emitted token. So the output distribution is
// the target's, and a seeded request's tokens match its non-speculative ones.
StreamEvent Engine::advance(Live& live, const PlanEntry& e, int32_t entry, double time) {
  Sequence& seq = live.seq;
  StreamEvent event;
  event.request_id = seq.id;
  const int32_t k = e.num_draft_tokens;
  int32_t accepted = 0;
  for (int32_t row = 0; row <= k; ++row) {
    const int32_t token = append_token(live, executor_->logits(entry, row), time, event);
    if (seq.is_finished() || row == k || token != seq.draft[size_t(row)]) break;
    ++accepted;
  }
  if (k == 0) return event;
  counters_.spec_num_drafts++;
  counters_.spec_num_draft_tokens += k;
  counters_.spec_num_accepted_tokens += accepted;
  for (int32_t pos = 0; pos < accepted; ++pos) counters_.spec_accepted_per_pos[size_t(pos)]++;
  if (!seq.is_finished()) scheduler_->on_draft_verified(seq, accepted);
  return event;
}

int32_t Engine::append_token(Live& live, float* logits, double time, StreamEvent& event) {
  std::optional<ScopedOp> op(std::in_place, Op::Sampling);
  Sequence& seq = live.seq;
  const GenerationParams& p = live.params;
  const int64_t vocab = model_.config().vocab_size;

  // Log-probabilities are of the raw logits, so keep them before any edit.
  double lse = 0;
  std::vector<std::pair<int32_t, float>> top;
  if (p.logprobs) {
    lse = log_sum_exp(logits, vocab);
    top = top_logprobs(logits, vocab, *p.logprobs, lse);
    live.raw_logits.assign(logits, logits + vocab);
  }
  if (p.penalties.active()) apply_penalties(logits, vocab, p.penalties, seq.prompt, seq.output);
  if (int32_t(seq.output.size()) < p.min_tokens) {
    suppress_tokens(logits, vocab, eos_ids_);
    suppress_tokens(logits, vocab, p.stop_token_ids);
  }
  const int32_t token = live.sampler.sample(logits, vocab);
  if (p.logprobs) {
    event.logprobs.push_back({token, float(double(live.raw_logits[size_t(token)]) - lse), std::move(top)});
  }

  seq.output.push_back(token);
  event.token_ids.push_back(token);
  live.record.token_times.push_back(time);
  counters_.generation_tokens++;
  if (live.record.first_token < 0) {
    live.record.first_token = time;
    live.record.cached_tokens = seq.num_cached_tokens;
    counters_.prompt_tokens += int64_t(seq.prompt.size());
  }

  const bool may_stop = int32_t(seq.output.size()) >= p.min_tokens;
  const bool is_eos = !p.ignore_eos && contains(eos_ids_, token);
  const bool is_stop_token = contains(p.stop_token_ids, token);
  if (may_stop && (is_eos || is_stop_token)) {
    if (!is_eos) event.stop_token = token;
    finish(live, FinishReason::Stop, event);
    return token;
  }
  op.emplace(Op::Detokenize);
  // The embedding may be padded past the tokenizer's ids; such a token has no text.
  const std::string piece = token < tokenizer_vocab_ ? live.decoder.push(token) : std::string();
  if (may_stop) {
    StopChecker::Result checked = live.stop.push(piece);
    event.text += checked.text;
    if (checked.matched) {
      event.stop_string = std::move(checked.matched);
      finish(live, FinishReason::Stop, event);
      return token;
    }
  } else {
    event.text += piece;
  }
  if (int32_t(seq.output.size()) >= p.max_tokens) finish(live, FinishReason::Length, event);
  return token;
}

void Engine::finish(Live& live, FinishReason reason, StreamEvent& event) {
  // Whatever text was held back (an incomplete character, a possible stop
  // string's start) is shown now, unless it completes a stop string.
  StopChecker::Result tail = live.stop.push(live.decoder.flush());
  event.text += tail.text;
  if (tail.matched) {
    event.stop_string = std::move(tail.matched);
    reason = FinishReason::Stop;
  } else {
    event.text += live.stop.release();
  }
  Sequence& seq = live.seq;
  if (proposer_) proposer_->release(seq.id);
  if (reason == FinishReason::Abort) {
    scheduler_->abort(seq);
  } else {
    scheduler_->finish(seq);
  }
  event.finish = reason;
  event.prompt_tokens = int32_t(seq.prompt.size());
  event.completion_tokens = int32_t(seq.output.size());
  event.cached_tokens = live.record.cached_tokens;
  live.record.finish = reason;
  live.record.preemptions = seq.num_preemptions;
  counters_.finished_by_reason[size_t(reason)]++;
  if (config_.record_history) request_history_.push_back(live.record);
  live_.erase(seq.id);
}

void Engine::deliver(std::vector<std::pair<std::shared_ptr<Live>, StreamEvent>>& events) {
  for (auto& [live, event] : events) {
    if (event.token_ids.empty() && !event.finish) continue;
    if (live->on_event) {
      live->on_event(event);
    } else {
      live->stream->push(std::move(event));
    }
  }
}

void Engine::abort_all(const std::string& error) {
  std::vector<std::pair<std::shared_ptr<Live>, StreamEvent>> events;
  {
    std::lock_guard lock(mutex_);
    std::vector<std::shared_ptr<Live>> all;
    for (auto& [id, live] : live_) all.push_back(live);
    for (auto& live : all) {
      StreamEvent event;
      event.request_id = live->seq.id;
      event.error = error;
      finish(*live, FinishReason::Abort, event);
      events.emplace_back(live, std::move(event));
    }
  }
  deliver(events);
}

bool Engine::has_unfinished() const {
  std::lock_guard lock(mutex_);
  return scheduler_->has_unfinished() || !pending_aborts_.empty();
}

void Engine::start() {
  if (thread_.joinable()) return;
  stop_requested_ = false;
  thread_ = std::thread([this] { loop(); });
}

void Engine::stop() {
  if (!thread_.joinable()) return;
  {
    // Set under the loop's mutex: set between the loop's check and its wait,
    // the notify would be lost and join would wait forever.
    std::lock_guard lock(mutex_);
    stop_requested_ = true;
  }
  work_.notify_all();
  thread_.join();
}

void Engine::loop() {
  while (!stop_requested_) {
    bool ran = false;
    try {
      ran = step();
    } catch (const std::exception& e) {
      // A failed step fails its requests; the loop itself carries on.
      fmt::print(stderr, "strata: engine step failed: {}\n", e.what());
      abort_all(e.what());
    } catch (...) {
      fmt::print(stderr, "strata: engine loop stopped on an unknown error\n");
      loop_died_ = true;
      abort_all("the engine loop stopped on an unknown error");
      return;
    }
    if (ran) continue;
    std::unique_lock lock(mutex_);
    auto has_work = [&] { return stop_requested_ || !pending_aborts_.empty() || scheduler_->has_unfinished(); };
    if (scheduler_->has_unfinished()) {
      // Queued work that could not be scheduled this step: retry shortly.
      work_.wait_for(lock, std::chrono::milliseconds(1), [&] { return stop_requested_ || !pending_aborts_.empty(); });
    } else {
      work_.wait(lock, has_work);
    }
  }
}

EngineCounters Engine::counters() const {
  std::lock_guard lock(mutex_);
  EngineCounters c = counters_;
  c.prefix_cache_queries = blocks_->prefix_cache_queries();
  c.prefix_cache_hits = blocks_->prefix_cache_hits();
  c.num_running = int64_t(scheduler_->num_running());
  c.num_waiting = int64_t(scheduler_->num_waiting());
  c.kv_usage = blocks_->usage();
  return c;
}

std::vector<StepStats> Engine::take_step_stats() {
  std::lock_guard lock(mutex_);
  return std::exchange(step_history_, {});
}

std::vector<RequestRecord> Engine::take_request_records() {
  std::lock_guard lock(mutex_);
  return std::exchange(request_history_, {});
}

size_t Engine::num_saved_activations() const {
  std::lock_guard lock(mutex_);
  return executor_->num_saved_activations();
}

}  // namespace strata
