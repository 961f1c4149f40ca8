#pragma once
// `strata bench engine`: in-process replay of a Poisson request trace
// against each schedule policy on one loaded model. For every (rate, policy)
// a fresh engine runs on its own thread while a feeder submits the requests
// at their arrival times; TTFT, TBT (every inter-token gap), SLO attainment
// under the per-token rule and expert weight traffic come from the engine's
// own records, so there is no client or HTTP overhead in the figures.
//
// With `simulate` set to a hardware profile (`strata sim calibrate`), every
// (rate, policy) is also run through `strata sim`'s simulator on exactly the
// same requests, arrival times and scheduler settings, and measured and
// simulated TTFT and TBT are printed side by side with their ratios: the
// check that the calibrated simulator agrees with the engine. `simulate` =
// "calibrate" fits the profile first, on the loaded model, so that it and
// the measured runs see the (shared, noisy) machine in the same state.
#include <cstdint>
#include <string>
#include <vector>

#include "engine/engine.h"

namespace strata {
class Model;
}

namespace strata::bench {

struct EngineBenchOptions {
  // layered, whole, chunked, chunked:BUDGET (this run's token budget), slo
  // or slo:TBT_MS (engine.tbt_slo_ms when not given).
  std::vector<std::string> policies{"layered", "chunked", "whole"};
  std::string dataset = "sharegpt";  // sharegpt, arxiv, random or edit (bench/edit_dataset.h)
  int input_len = 1024, output_len = 128;  // random: fixed lengths; edit: the text and its continuation
  std::vector<double> request_rates{1.0};
  int num_prompts = 32;
  double scale_lengths = 1.0;  // multiplies the dataset's prompt and output lengths
  std::string slo = "ttft:5000,tbt:125";
  uint64_t seed = 0;
  // Engine settings shared by every run; max_num_batched_tokens is given
  // per policy (0: the policy's default).
  EngineConfig engine;
  int32_t chunked_max_num_batched_tokens = 0;
  int32_t layered_max_num_batched_tokens = 0;
  std::string output_json;
  // Hardware profile to simulate every run on ("calibrate": fit one now),
  // and the Hugging Face folder
  // of the model (the simulator reads its shapes and byte sizes there).
  std::string simulate;
  std::string model_dir;
  // The profile slo runs size their steps with (a `strata sim calibrate`
  // JSON); empty: the --simulate profile, else the one kept for the model
  // (sim/profile_cache.h), fitted first if none is.
  std::string cost_profile;
};

// Runs every (rate, policy), prints the tables and ratios to stdout, and
// writes output_json when set.
void run_engine_bench(const Model& model, const EngineBenchOptions& options);

}  // namespace strata::bench
