// `strata synth`: writes a synthetic model (random weights, real formats and
// tokenizer) for tests and benchmarks. See tools/synth.h.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cmath>
#include <fstream>
#include <iterator>
#include <fmt/core.h>

#include "core/error.h"
#include "tools/commands.h"
#include "tools/progress_bar.h"
#include "tools/synth.h"

namespace strata {

namespace {

struct SynthArgs {
  std::string out, arch = "qwen3_moe", preset = "tiny", format = "hf", dtype = "bf16",
              quant = "none";
  std::string tokenizer_dir, chat_template;
  uint64_t seed = 0;
  float branch_gain = kSynthBranchGain;
  uint64_t shard_bytes = uint64_t(4) << 30;
  bool force = false, progress = false;
  // Shape overrides, applied over the preset when given.
  int64_t hidden = 0, layers = 0, heads = 0, kv_heads = 0, head_dim = 0, experts = 0, top_k = 0,
          moe_ffn = 0, ffn = 0, sparse_step = 0, max_position = 0, rotary_dim = 0;
  bool norm_topk_prob = true, tie_embeddings = false;
  std::vector<int64_t> mlp_only_layers;
  double rope_theta = 0;
  // Latent attention and DeepSeek routing (deepseek_v3, kimi_k2).
  int64_t q_lora_rank = 0, kv_lora_rank = 0, qk_nope_head_dim = 0, qk_rope_head_dim = 0, v_head_dim = 0,
          shared_experts = 0, first_dense_layers = 0, n_group = 0, topk_group = 0;
  double routed_scaling_factor = 0;
  int64_t mtp = 0;  // multi-token-prediction modules (minimax_m2, deepseek_v3)
};

// Set by SIGINT/SIGTERM; the writer polls it between chunks and rolls back.
std::atomic<bool> g_interrupted{false};
extern "C" void on_interrupt(int) { g_interrupted.store(true); }

// Restores the previous handlers when the command ends.
class InterruptGuard {
 public:
  InterruptGuard() {
    g_interrupted.store(false);
    old_int_ = std::signal(SIGINT, on_interrupt);
    old_term_ = std::signal(SIGTERM, on_interrupt);
  }
  ~InterruptGuard() {
    std::signal(SIGINT, old_int_);
    std::signal(SIGTERM, old_term_);
  }

 private:
  void (*old_int_)(int);
  void (*old_term_)(int);
};

DType parse_dtype(const std::string& s) {
  if (s == "f32") return DType::F32;
  if (s == "f16") return DType::F16;
  if (s == "bf16") return DType::BF16;
  fail("synth: unknown --dtype '{}' (use f32, f16 or bf16)", s);
}

SynthFormat parse_format(const std::string& s) {
  if (s == "hf") return SynthFormat::HF;
  if (s == "gguf") return SynthFormat::GGUF;
  if (s == "both") return SynthFormat::Both;
  fail("synth: unknown --format '{}' (use hf, gguf or both)", s);
}

void run_synth(const SynthArgs& a, const CLI::App& cmd) {
  ModelConfig c = synth_preset(a.preset, a.arch);
  auto given = [&](const char* flag) { return cmd.count(flag) > 0; };
  const bool moe = c.num_experts > 0;
  for (const char* flag : {"--experts", "--top-k", "--moe-ffn", "--norm-topk-prob",
                           "--decoder-sparse-step", "--mlp-only-layers"}) {
    if (!moe && given(flag)) fail("synth: {} needs an MoE architecture (not {})", flag, a.arch);
  }
  if (given("--hidden")) c.hidden_size = a.hidden;
  if (given("--layers")) c.num_hidden_layers = a.layers;
  if (given("--heads")) c.num_attention_heads = a.heads;
  if (given("--kv-heads")) c.num_key_value_heads = a.kv_heads;
  if (given("--head-dim")) c.head_dim = a.head_dim;
  if (given("--experts")) c.num_experts = a.experts;
  if (given("--top-k")) c.num_experts_per_tok = a.top_k;
  if (given("--moe-ffn")) c.moe_intermediate_size = a.moe_ffn;
  if (given("--rotary-dim")) c.rotary_dim = a.rotary_dim;
  if (given("--ffn")) c.intermediate_size = a.ffn;
  if (given("--norm-topk-prob")) c.norm_topk_prob = a.norm_topk_prob;
  if (given("--tie-embeddings")) c.tie_word_embeddings = a.tie_embeddings;
  if (given("--decoder-sparse-step")) c.decoder_sparse_step = a.sparse_step;
  if (given("--mlp-only-layers")) c.mlp_only_layers = a.mlp_only_layers;
  if (given("--rope-theta")) c.rope_theta = a.rope_theta;
  if (given("--max-position")) c.max_position_embeddings = a.max_position;
  for (const char* flag : {"--q-lora-rank", "--kv-lora-rank", "--qk-nope-head-dim", "--qk-rope-head-dim",
                           "--v-head-dim", "--first-dense-layers"}) {
    if (!c.is_mla() && given(flag)) fail("synth: {} needs a latent-attention architecture (not {})", flag, a.arch);
  }
  for (const char* flag : {"--shared-experts", "--n-group", "--topk-group", "--routed-scaling-factor"}) {
    if (!moe && given(flag)) fail("synth: {} needs an MoE architecture (not {})", flag, a.arch);
  }
  if (given("--head-dim") && c.is_mla()) fail("synth: {} sets --qk-nope-head-dim and --qk-rope-head-dim, not --head-dim", a.arch);
  if (given("--q-lora-rank")) c.q_lora_rank = a.q_lora_rank;
  if (given("--kv-lora-rank")) c.kv_lora_rank = a.kv_lora_rank;
  if (given("--qk-nope-head-dim")) c.qk_nope_head_dim = a.qk_nope_head_dim;
  if (given("--qk-rope-head-dim")) c.rotary_dim = a.qk_rope_head_dim;
  if (given("--v-head-dim")) c.v_head_dim = a.v_head_dim;
  if (given("--shared-experts")) c.n_shared_experts = a.shared_experts;
  if (given("--n-group")) c.n_group = a.n_group;
  if (given("--topk-group")) c.topk_group = a.topk_group;
  if (given("--routed-scaling-factor")) c.routed_scaling_factor = a.routed_scaling_factor;
  if (given("--first-dense-layers")) {
    c.mlp_only_layers.clear();
    for (int64_t i = 0; i < a.first_dense_layers; ++i) c.mlp_only_layers.push_back(i);
  }
  if (given("--mtp")) c.num_mtp_modules = a.mtp;
  if (c.is_mla()) {  // MLA heads: q/k = nope + rope; one latent, so KV heads = heads
    c.head_dim = c.qk_nope_head_dim + c.rotary_dim;
    c.num_key_value_heads = c.num_attention_heads;
  }

  SynthOptions o;
  o.config = c;
  o.format = parse_format(a.format);
  if (c.num_mtp_modules > 0 && o.format == SynthFormat::GGUF) fail("synth: --mtp writes to an HF folder (--format hf or both)");
  o.dtype = parse_dtype(a.dtype);
  if (a.quant == "int4") {
    o.quant = SynthQuant::Int4;
  } else if (a.quant != "none") {
    fail("synth: unknown --quant '{}' (use none or int4)", a.quant);
  }
  o.seed = a.seed;
  if (!(a.branch_gain > 0) || !std::isfinite(a.branch_gain)) fail("synth: --branch-gain must be positive (got {})", a.branch_gain);
  o.branch_gain = a.branch_gain;
  o.tokenizer_dir = a.tokenizer_dir.empty() ? default_synth_tokenizer_dir() : a.tokenizer_dir;
  if (!a.chat_template.empty()) {
    std::ifstream in(a.chat_template);
    if (!in) fail("synth: cannot read --chat-template {}", a.chat_template);
    o.chat_template.assign(std::istreambuf_iterator<char>(in), {});
    if (o.chat_template.empty()) fail("synth: --chat-template {} is empty", a.chat_template);
  }
  if (a.shard_bytes == 0) fail("synth: --shard-size must be positive");
  o.shard_bytes = a.shard_bytes;
  o.force = a.force;
  o.cancel = &g_interrupted;

  std::unique_ptr<ProgressBar> progress;  // created once the total size is known
  const bool show = a.progress || isatty(STDERR_FILENO);
  uint64_t total = 0;
  o.on_progress = [&](uint64_t done, uint64_t all) {
    if (!progress) progress = std::make_unique<ProgressBar>("synth", all, show);
    progress->update(done);
    total = all;
  };

  InterruptGuard guard;
  const auto t0 = std::chrono::steady_clock::now();
  synthesize_model(a.out, o);
  if (progress) progress->finish();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  fmt::print(stderr, "wrote {} ({:.1f} MB of weights in {:.1f} s, {:.0f} MB/s)\n", a.out,
             double(total) / 1e6, seconds, double(total) / 1e6 / std::max(seconds, 1e-9));
}

}  // namespace

void add_synth_command(CLI::App& app) {
  auto args = std::make_shared<SynthArgs>();
  CLI::App* cmd = app.add_subcommand("synth", "Write a synthetic model (random weights) for tests");
  cmd->add_option("--out", args->out, "Output: a folder (hf, both) or a .gguf file")->required();
  cmd->add_option("--arch", args->arch, "qwen3_moe, qwen3, minimax_m2, deepseek_v3 or kimi_k2");
  cmd->add_option("--preset", args->preset,
                  "tiny, qwen3-30b-a3b-layer (qwen3*), minimax-m2-layer or kimi-k2-layer (deepseek_v3, kimi_k2)");
  cmd->add_option("--format", args->format, "hf, gguf or both (GGUF inside the folder)");
  cmd->add_option("--dtype", args->dtype, "f32, f16 or bf16");
  cmd->add_option("--quant", args->quant,
                  "none, or int4: routed experts INT4 g32 (compressed-tensors; Q4_0 in GGUF)");
  cmd->add_option("--seed", args->seed, "Weights are a function of the seed");
  cmd->add_option("--branch-gain", args->branch_gain,
                  "Scale of attention/MLP outputs against the residual; small (e.g. 0.1) makes the layers near "
                  "identity, so greedy output copies what followed the same tokens before")
      ->capture_default_str();
  cmd->add_option("--tokenizer-dir", args->tokenizer_dir,
                  "Folder with tokenizer.json and tokenizer_config.json (kimi_k2: the vocabulary "
                  "its tiktoken.model is made of)");
  cmd->add_option("--chat-template", args->chat_template, "A Jinja file to use as the chat template");
  cmd->add_option("--shard-size", args->shard_bytes, "HF shard size limit (e.g. 4GiB, 100MB)")
      ->transform(CLI::AsSizeValue(false));
  cmd->add_flag("--force", args->force, "Replace an existing output");
  cmd->add_flag("--progress", args->progress, "Show progress even when stderr is not a terminal");
  cmd->add_option("--hidden", args->hidden);
  cmd->add_option("--layers", args->layers);
  cmd->add_option("--heads", args->heads);
  cmd->add_option("--kv-heads", args->kv_heads);
  cmd->add_option("--head-dim", args->head_dim);
  cmd->add_option("--experts", args->experts);
  cmd->add_option("--top-k", args->top_k);
  cmd->add_option("--moe-ffn", args->moe_ffn);
  cmd->add_option("--ffn", args->ffn, "Dense MLP size (qwen3, mlp-only layers, DeepSeek's first dense layers)");
  cmd->add_option("--norm-topk-prob", args->norm_topk_prob);
  cmd->add_option("--tie-embeddings", args->tie_embeddings);
  cmd->add_option("--decoder-sparse-step", args->sparse_step);
  cmd->add_option("--mlp-only-layers", args->mlp_only_layers)->delimiter(',');
  cmd->add_option("--rope-theta", args->rope_theta);
  cmd->add_option("--rotary-dim", args->rotary_dim, "Head dims RoPE rotates (partial RoPE; default: all)");
  cmd->add_option("--max-position", args->max_position);
  cmd->add_option("--q-lora-rank", args->q_lora_rank, "MLA q down-projection rank (0: one q projection, as V2-Lite)");
  cmd->add_option("--kv-lora-rank", args->kv_lora_rank, "MLA latent size (the cache keeps it plus the rope dims)");
  cmd->add_option("--qk-nope-head-dim", args->qk_nope_head_dim);
  cmd->add_option("--qk-rope-head-dim", args->qk_rope_head_dim);
  cmd->add_option("--v-head-dim", args->v_head_dim);
  cmd->add_option("--shared-experts", args->shared_experts, "Always-on shared experts (each --moe-ffn wide)");
  cmd->add_option("--first-dense-layers", args->first_dense_layers, "Leading dense layers (first_k_dense_replace)");
  cmd->add_option("--n-group", args->n_group, "Expert groups for group-limited routing");
  cmd->add_option("--topk-group", args->topk_group, "Groups a token's experts may come from");
  cmd->add_option("--routed-scaling-factor", args->routed_scaling_factor, "Multiplies the routed experts' weights");
  cmd->add_option("--mtp", args->mtp,
                  "Multi-token-prediction modules after the decoder layers, named as the real checkpoints "
                  "(model/mtp_tensors.h), for --speculative-config method mtp (minimax_m2, deepseek_v3; HF "
                  "folder only)");
  cmd->callback([args, cmd] { run_synth(*args, *cmd); });
}

}  // namespace strata
