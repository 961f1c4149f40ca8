#pragma once
// `strata bench context`: decode speed against context length on one loaded
// model. Prefilling tens of thousands of tokens of a real shape takes far
// too long on a CPU, so the paged KV cache is filled directly with synthetic
// rows (normal values, the scale of normalised latents and keys) for
// positions [0, N), and real decode steps are timed: the model's forward
// pass for one token at position N (every layer; attention over N + 1
// cached positions), then the LM head. Each context length runs rounds that
// alternate split-KV attention on and off (model/blocks/split_kv.h), whose
// medians give the split/unsplit ratio; the op profile gives attention's
// share of the forward pass and the bytes it reads.
#include <cstdint>
#include <vector>

namespace strata {
class Model;
}

namespace strata::bench {

struct ContextBenchOptions {
  std::vector<int32_t> contexts{1024, 2048, 4096, 8192, 16384, 32768, 65536};
  int steps = 5;   // timed decode steps per round and setting
  int rounds = 3;  // rounds of split-KV on, then off
  int32_t block_size = 16;
};

struct ContextBenchRow {
  int32_t context = 0;
  double forward_ms = 0, lm_head_ms = 0;  // medians, split-KV on
  double unsplit_forward_ms = 0;          // median, split-KV off
  double attention_share = 0;             // of the forward pass, split-KV on
  double kv_bytes_read = 0;               // per step: (context + 1) x KV bytes per token
  double bytes_read = 0;                  // per step, weights and KV, as the op profile counts them
};

// Runs every context length (at most the model's context) and prints a
// table as it goes.
std::vector<ContextBenchRow> run_context_bench(const Model& model, const ContextBenchOptions& options);

}  // namespace strata::bench
