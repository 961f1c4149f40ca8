#include "model/decoder_model.h"

#include <algorithm>
#include <cstring>

#include <fmt/format.h>

#include "core/error.h"
#include "core/op_profile.h"
#include "formats/compressed_tensors.h"
#include "formats/fp8_block.h"
#include "formats/tensor_source.h"
#include "kernels/bf16_panels.h"
#include "kernels/f16_panels.h"
#include "kernels/int4_matrix.h"
#include "kernels/ops.h"
#include "model/arch.h"
#include "model/kv_cache.h"
#include "model/workspace.h"
#include "tokenizer/tokenizer.h"

namespace strata {

namespace {

// Norm weights (and router biases) are small, so they are decoded to f32 once at load.
std::vector<float> small_vector(const TensorSource& src, const std::string& name, int64_t dim) {
  const TensorView& t = src.get(name, {dim});
  if (t.dtype != DType::F32 && t.dtype != DType::F16 && t.dtype != DType::BF16) {
    fail("{}: tensor '{}' has dtype {}, expected F32, F16 or BF16", t.file, name, dtype_name(t.dtype));
  }
  std::vector<float> w(static_cast<size_t>(dim));
  dequantize_row(t.dtype, t.data, dim, w.data());
  return w;
}

void add_into(float* dst, const float* src, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] += src[i];
}

}  // namespace

WeightMatrix DecoderModel::repacked(const WeightMatrix& w) {
  if (w.int4 || w.fp8 || w.panels || w.f16_panels) return w;
  if (w.dtype == DType::Q4_0) {
    int4_.push_back(std::make_unique<Int4Matrix>(Int4Matrix::from_q4_0(w.data, w.rows, w.cols)));
    return WeightMatrix::of(*int4_.back());
  }
  if (w.dtype != DType::BF16) return w;
  const Bf16Layouts layouts = matmul_bf16_layouts(w.rows, w.cols);
  WeightMatrix relaid = w;
  if (layouts.bf16_panels) {
    bf16_panels_.push_back(std::make_unique<Bf16Panels>(w.data, w.rows, w.cols, w.row_bytes));
    relaid.panels = bf16_panels_.back().get();
  }
  if (layouts.f16_panels) {
    f16_panels_.push_back(std::make_unique<F16Panels>(w.data, w.rows, w.cols, w.row_bytes));
    relaid.f16_panels = f16_panels_.back().get();
  }
  return relaid;
}

WeightMatrix DecoderModel::linear(const std::string& name, int64_t rows, int64_t cols) {
  return repacked(stored_linear(name, rows, cols));
}

WeightMatrix DecoderModel::stored_linear(const std::string& name, int64_t rows, int64_t cols) {
  const TensorSource& src = *weights_;
  const std::string module = name.substr(0, name.size() - std::string_view(".weight").size());
  if (fp8_ && fp8_->quantizes(src, module)) {
    fp8_weights_.push_back(std::make_unique<Fp8Matrix>(load_fp8_block(src, module, rows, cols)));
    return WeightMatrix::of(*fp8_weights_.back());
  }
  if (quant_ && quant_->quantizes(module)) {
    int4_.push_back(std::make_unique<Int4Matrix>(load_compressed_int4(src, module, rows, cols)));
    return WeightMatrix::of(*int4_.back());
  }
  if (!src.find(name) && src.find(module + ".weight_packed")) {
    fail("{}: '{}' is stored packed (INT4) but config.json's quantization_config does not quantize it", src.describe(),
         module);
  }
  return WeightMatrix::from(src.get(name, {rows, cols}));
}

void DecoderModel::load_latent_up_projection(const TensorSpec& t, const std::string& name, MlaWeights& w) {
  const TensorSource& src = *weights_;
  if (t.role != TensorRole::KvB) {  // GGUF: [heads, rows, cols] stacked per head
    const TensorView& stacked = src.get(name, t.shape);
    std::vector<WeightMatrix>& heads = t.role == TensorRole::KB ? w.k_b : w.v_b;
    for (int64_t h = 0; h < t.shape[0]; ++h) heads.push_back(repacked(WeightMatrix::slice(stacked, h)));
    return;
  }
  // HF kv_b_proj: per head nope k rows, then v rows. The v rows are W_UV as
  // stored; the k rows are transposed once into W_UK^T for the absorbed query.
  const int64_t heads = config_.num_attention_heads, nope = config_.qk_nope_head_dim, vd = config_.v_head_dim,
                lora = config_.kv_lora_rank;
  // Used only through its per-head views, each re-laid on its own.
  WeightMatrix kv_b = stored_linear(name, t.shape[0], t.shape[1]);
  if (kv_b.int4 || kv_b.fp8) {
    // Quantized (DeepSeek-V3's FP8 release quantizes it): decoded once to
    // f32, since its k rows are transposed and its v rows sliced per head.
    std::vector<float>& decoded = decoded_.emplace_back(size_t(kv_b.rows * kv_b.cols));
    for (int64_t r = 0; r < kv_b.rows; ++r) {
      float* out = &decoded[size_t(r * kv_b.cols)];
      kv_b.fp8 ? kv_b.fp8->dequantize_row(r, out) : kv_b.int4->dequantize_row(r, out);
    }
    kv_b = {DType::F32, reinterpret_cast<const uint8_t*>(decoded.data()), kv_b.rows, kv_b.cols,
            size_t(kv_b.cols) * sizeof(float)};
  }
  // W_UK^T keeps kv_b's element type (a transpose moves values, it does
  // not round them), so this layout runs the same kernels as GGUF's k_b.
  if (dtype_info(kv_b.dtype).block_elems != 1) {
    fail("{}: '{}' has dtype {}, expected F32, F16 or BF16", src.describe(), name, dtype_name(kv_b.dtype));
  }
  const size_t elem = size_t(dtype_bytes(kv_b.dtype, 1));
  for (int64_t h = 0; h < heads; ++h) {
    std::vector<uint8_t>& uk_t = transposed_.emplace_back(size_t(lora * nope) * elem);
    for (int64_t d = 0; d < nope; ++d) {
      const uint8_t* k_row = kv_b.row(h * (nope + vd) + d);
      for (int64_t i = 0; i < lora; ++i) std::memcpy(&uk_t[size_t(i * nope + d) * elem], k_row + i * elem, elem);
    }
    w.k_b.push_back(repacked({kv_b.dtype, uk_t.data(), lora, nope, size_t(nope) * elem}));
    w.v_b.push_back(repacked(kv_b.with_rows(h * (nope + vd) + nope, vd)));
  }
}

void DecoderModel::load_tensor(const TensorSpec& t) {
  const TensorSource& src = *weights_;
  if (t.gguf_only && !gguf_) return;  // the tied embedding or kv_b's split, loaded as such
  if (t.hf_only && gguf_) return;
  const std::string& name = gguf_ ? t.gguf_name : t.parts[0].name;
  using R = TensorRole;
  if (t.role == R::Embedding) {
    embed_ = WeightMatrix::from(src.get(name, t.shape));
    // A tied BF16 head gets its own panels; the embedding reads the rows.
    if (config_.tie_word_embeddings) lm_head_ = embed_.dtype == DType::BF16 ? repacked(embed_) : embed_;
    return;
  }
  if (t.role == R::LmHead) {
    lm_head_ = linear(name, t.shape[0], t.shape[1]);
    return;
  }
  if (t.role == R::FinalNorm) {
    final_norm_ = small_vector(src, name, t.shape[0]);
    return;
  }
  if (t.role == R::MtpEmbedNorm || t.role == R::MtpHiddenNorm || t.role == R::MtpHeadNorm || t.role == R::MtpProjection ||
      t.role == R::MtpHead) {
    MtpModule& m = mtp_[size_t(t.layer - config_.num_hidden_layers)];
    if (t.role == R::MtpProjection || t.role == R::MtpHead) {
      (t.role == R::MtpProjection ? m.projection : m.head) = linear(name, t.shape[0], t.shape[1]);
    } else {
      (t.role == R::MtpEmbedNorm ? m.embed_norm : t.role == R::MtpHiddenNorm ? m.hidden_norm : m.head_norm) =
          small_vector(src, name, t.shape[0]);
    }
    return;
  }
  Layer& l = layers_[size_t(t.layer)];
  if (t.role == R::KvB || t.role == R::KB || t.role == R::VB) {
    load_latent_up_projection(t, name, l.mla);
    return;
  }
  if (t.routed_experts()) {
    const int64_t n_exp = t.shape[0], rows = t.shape[1], cols = t.shape[2];
    std::vector<MlpWeights>& experts = l.moe.experts;
    experts.resize(size_t(n_exp));
    const TensorView* stacked = gguf_ ? &src.get(name, t.shape) : nullptr;
    for (int64_t e = 0; e < n_exp; ++e) {
      const WeightMatrix m = stacked ? repacked(WeightMatrix::slice(*stacked, e))
                                     : linear(t.parts[size_t(e)].name, rows, cols);
      MlpWeights& x = experts[size_t(e)];
      (t.role == R::ExpertGate ? x.gate : t.role == R::ExpertUp ? x.up : x.down) = m;
    }
    return;
  }
  if (t.is_vector()) {
    std::vector<float> v = small_vector(src, name, t.shape[0]);
    switch (t.role) {
      case R::AttnNorm: l.attn_norm = std::move(v); return;
      case R::FfnNorm: l.ffn_norm = std::move(v); return;
      case R::QNorm: l.attention.q_norm = std::move(v); return;
      case R::KNorm: l.attention.k_norm = std::move(v); return;
      case R::RouterBias: l.moe.correction_bias = std::move(v); return;
      case R::QANorm: l.mla.q_a_norm = std::move(v); return;
      case R::KvANorm: l.mla.kv_a_norm = std::move(v); return;
      default: fail("{}: tensor '{}' ({}) cannot be one-dimensional", src.describe(), name, tensor_role_name(t.role));
    }
  }
  // A router stored whole is used as such whatever quantization_config's
  // ignore list says: DeepSeek's (MoEGate) is no nn.Linear, so
  // compressed-tensors never quantizes it and Kimi K2's list omits it.
  const bool whole_router = t.role == R::Router && quant_ && src.find(name);
  const WeightMatrix m = whole_router ? repacked(WeightMatrix::from(src.get(name, {t.shape[0], t.shape[1]})))
                                      : linear(name, t.shape[0], t.shape[1]);
  switch (t.role) {
    case R::Q: (l.spec.mla ? l.mla.q : l.attention.q) = m; return;
    case R::QA: l.mla.q_a = m; return;
    case R::QB: l.mla.q_b = m; return;
    case R::KvA: l.mla.kv_a = m; return;
    case R::K: l.attention.k = m; return;
    case R::V: l.attention.v = m; return;
    case R::O: (l.spec.mla ? l.mla.o : l.attention.o) = m; return;
    case R::Router: l.moe.router = m; return;
    case R::MlpGate: l.mlp.gate = m; return;
    case R::MlpUp: l.mlp.up = m; return;
    case R::MlpDown: l.mlp.down = m; return;
    case R::SharedGate: l.moe.shared.gate = m; return;
    case R::SharedUp: l.moe.shared.up = m; return;
    case R::SharedDown: l.moe.shared.down = m; return;
    default: fail("{}: tensor '{}' ({}) must be one-dimensional", src.describe(), name, tensor_role_name(t.role));
  }
}

DecoderModel::DecoderModel(const ModelConfig& config, std::unique_ptr<TensorSource> weights,
                           std::unique_ptr<Tokenizer> tokenizer, const CompressedTensorsConfig* quant,
                           const Fp8BlockConfig* fp8, bool load_mtp)
    : weights_(std::move(weights)), quant_(quant), fp8_(fp8) {
  config_ = config;
  tokenizer_ = std::move(tokenizer);
  const ModelConfig& c = config_;
  c.validate(weights_->describe());
  gguf_ = weights_->find("token_embd.weight") != nullptr;
  const int64_t L = c.num_hidden_layers;
  num_mtp_modules_ = load_mtp ? c.num_mtp_modules : 0;
  layers_.resize(size_t(L + num_mtp_modules_));
  mtp_.resize(size_t(num_mtp_modules_));
  for (int64_t i = 0; i < L + num_mtp_modules_; ++i) layers_[size_t(i)].spec = layer_spec(c, i);
  for (const TensorSpec& t : arch_of(c).tensors(c)) {
    if (t.layer < L) {
      load_tensor(t);
    } else if (load_mtp) {
      try {
        load_tensor(t);
      } catch (const Error& e) {
        // Published MiniMax-M2 checkpoints declare MTP modules they do not ship.
        fail("{}: config.json declares {} MTP modules, but they cannot be loaded ({}); serve it without "
             "--speculative-config method mtp",
             weights_->describe(), c.num_mtp_modules, e.what());
      }
    }
  }
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
    const Layer& l = layers_[size_t(i)];
    if (l.spec.moe && l.spec.experts.router.correction_bias && l.moe.correction_bias.empty()) {
      fail("{}: layer {} routes with a correction bias its tensor table does not load", weights_->describe(), i);
    }
  }
  quant_ = nullptr;
  fp8_ = nullptr;
  if (c.num_mtp_modules > 0 && !load_mtp) {
    fmt::print(stderr, "{}: skipping the {} multi-token-prediction modules (layers {}-{}); speculative decoding's mtp "
               "method runs them\n",
               weights_->describe(), c.num_mtp_modules, L, L + c.num_mtp_modules - 1);
  }
}

DecoderModel::~DecoderModel() = default;

void DecoderModel::embed(const int32_t* tokens, int64_t n, float* hidden) const {
  ScopedOp op(Op::Embed);
  for (int64_t t = 0; t < n; ++t) {
    if (tokens[t] < 0 || tokens[t] >= embed_.rows) {
      fail("token id {} is outside the vocabulary of {} tokens", tokens[t], embed_.rows);
    }
    dequantize_row(embed_.dtype, embed_.row(tokens[t]), embed_.cols, hidden + t * embed_.cols);
  }
}

void DecoderModel::forward(const BatchRows& rows, int64_t layer_begin, int64_t layer_end, float* hidden,
                           KVCache& kv) const {
  if (layer_begin < 0 || layer_begin > layer_end || layer_end > config_.num_hidden_layers) {
    fail("forward: layer range [{}, {}) is outside the model's {} layers", layer_begin, layer_end,
         config_.num_hidden_layers);
  }
  run_layers(rows, layer_begin, layer_end, hidden, kv, 0);
}

void DecoderModel::run_layers(const BatchRows& rows, int64_t layer_begin, int64_t layer_end, float* hidden,
                              KVCache& kv, int64_t kv_first) const {
  if (layer_begin == layer_end) return;
  Workspace local;
  Workspace& ws = rows.workspace ? *rows.workspace : local;
  const int64_t n = rows.n_tokens, h = config_.hidden_size;
  const float eps = float(config_.rms_norm_eps);
  float* x = ws.floats(Scratch::Normed, size_t(n * h));
  float* delta = ws.floats(Scratch::Delta, size_t(n * h));
  {
    ScopedOp op(Op::Norm);
    rmsnorm(hidden, layers_[size_t(layer_begin)].attn_norm.data(), x, n, h, eps);
  }
  // Each residual add runs fused with the norm that follows it (the next
  // layer's attention norm after an FFN); x holds the normed input of each block.
  for (int64_t i = layer_begin; i < layer_end; ++i) {
    const Layer& layer = layers_[size_t(i)];
    if (layer.spec.mla) {
      mla_block(layer.spec.latent, layer.mla, rows, x, delta, kv.layer(i - kv_first), ws);
    } else {
      attention_block(layer.spec.attention, layer.attention, rows, x, delta, kv.layer(i - kv_first), ws);
    }
    {
      ScopedOp op(Op::Norm);
      fused_add_rmsnorm(delta, hidden, layer.ffn_norm.data(), x, n, h, eps);
    }
    if (layer.spec.moe) {
      moe_block(layer.spec.experts, layer.moe, x, n, h, delta, ws, rows.stats);
    } else {
      ScopedOp op(Op::DenseMlp, double(layer.mlp.gate.stored_bytes() + layer.mlp.up.stored_bytes() +
                                       layer.mlp.down.stored_bytes()));
      mlp_block(layer.mlp, x, n, delta, ws);
    }
    if (i + 1 < layer_end) {
      ScopedOp op(Op::Norm);
      fused_add_rmsnorm(delta, hidden, layers_[size_t(i + 1)].attn_norm.data(), x, n, h, eps);
    } else {
      ScopedOp op(Op::Residual);
      add_into(hidden, delta, n * h);
    }
  }
}

void DecoderModel::logits(const float* hidden, int64_t n, float* logits) const {
  head_logits(final_norm_, lm_head_, hidden, n, logits);
}

void DecoderModel::final_norm(const float* hidden, int64_t n, float* out) const {
  rmsnorm(hidden, final_norm_.data(), out, n, config_.hidden_size, float(config_.rms_norm_eps));
}

void DecoderModel::head_logits(const std::vector<float>& norm, const WeightMatrix& head, const float* hidden, int64_t n,
                               float* logits) const {
  ScopedOp op(Op::LmHead, double(head.stored_bytes()));
  std::vector<float> x(size_t(n * config_.hidden_size));
  rmsnorm(hidden, norm.data(), x.data(), n, config_.hidden_size, float(config_.rms_norm_eps));
  matmul(x.data(), n, head, logits);
}

const DecoderModel::MtpModule& DecoderModel::mtp_module(int64_t module, const char* caller) const {
  if (module < 0 || module >= num_mtp_modules_) {
    fail("{}: module {} is outside the {} MTP modules loaded", caller, module, num_mtp_modules_);
  }
  return mtp_[size_t(module)];
}

void DecoderModel::mtp_forward(int64_t module, const BatchRows& rows, const int32_t* tokens, const float* previous,
                               float* hidden, KVCache& kv) const {
  const MtpModule& m = mtp_module(module, "mtp_forward");
  const int64_t n = rows.n_tokens, h = config_.hidden_size;
  const float eps = float(config_.rms_norm_eps);
  embed(tokens, n, hidden);
  std::vector<float> joined(size_t(n * 2 * h));
  {
    ScopedOp op(Op::Norm);
    for (int64_t r = 0; r < n; ++r) {
      float* row = joined.data() + r * 2 * h;
      if (rows.positions[r] == 0) {
        std::fill(row, row + h, 0.0f);  // no embedding at position 0 (vLLM's DeepSeek MTP masks it)
      } else {
        rmsnorm(hidden + r * h, m.embed_norm.data(), row, 1, h, eps);
      }
      rmsnorm(previous + r * h, m.hidden_norm.data(), row + h, 1, h, eps);
    }
  }
  {
    // Profiled with the dense MLPs: eh_proj is one dense matmul of the same kind.
    ScopedOp op(Op::DenseMlp, double(m.projection.stored_bytes()));
    matmul(joined.data(), n, m.projection, hidden);
  }
  const int64_t layer = config_.num_hidden_layers + module;
  run_layers(rows, layer, layer + 1, hidden, kv, config_.num_hidden_layers);
}

void DecoderModel::mtp_logits(int64_t module, const float* hidden, int64_t n, float* logits) const {
  const MtpModule& m = mtp_module(module, "mtp_logits");
  head_logits(m.head_norm.empty() ? final_norm_ : m.head_norm, m.head.rows > 0 ? m.head : lm_head_, hidden, n, logits);
}

}  // namespace strata
