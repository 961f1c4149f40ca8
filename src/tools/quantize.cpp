#include "tools/quantize.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <optional>
#include <set>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "formats/compressed_tensors.h"
#include "formats/fp8_block.h"
#include "formats/gguf.h"
#include "formats/hf_folder.h"
#include "formats/sharded_safetensors_writer.h"
#include "kernels/matmul.h"
#include "model/config.h"
#include "tokenizer/tokenizer.h"
#include "model/arch.h"
#include "tools/gguf_layout.h"

namespace strata {

namespace fs = std::filesystem;

namespace {

constexpr std::string_view kWeightSuffix = ".weight";
constexpr std::string_view kScaleInvSuffix = ".weight_scale_inv";

bool ends_with(const std::string& s, std::string_view suffix) {
  return s.size() > suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string module_of(const std::string& tensor) { return tensor.substr(0, tensor.size() - kWeightSuffix.size()); }

// The HF weights that are no nn.Linear, which compressed-tensors never
// quantizes whatever its targets say: the embedding (a lookup table) and the
// MoE routers (DeepSeek's MoEGate is a bare parameter; Kimi K2's ignore list
// omits it).
std::set<std::string> not_linear_weights(const ModelConfig& config) {
  std::set<std::string> out;
  for (const TensorSpec& t : plan_tensors(config)) {
    if (t.role != TensorRole::Embedding && t.role != TensorRole::Router) continue;
    for (const HFPart& p : t.parts) out.insert(p.name);
  }
  return out;
}

// What `strata quantize` turns into INT4.
struct QuantizePlan {
  CompressedTensorsConfig config;
  std::set<std::string> not_linear;

  // Whether HF tensor `name` becomes INT4: a 2-D float or FP8 ".weight" of a
  // targeted, not ignored Linear module whose rows are whole groups.
  bool quantizes(const std::string& name, const TensorView& t) const {
    return ends_with(name, kWeightSuffix) && !not_linear.contains(name) && t.shape.size() == 2 &&
           t.shape[1] % 32 == 0 &&
           (t.dtype == DType::F32 || t.dtype == DType::BF16 || t.dtype == DType::F16 || t.dtype == DType::F8_E4M3) &&
           config.quantizes(module_of(name));
  }
};

// How an input tensor goes out.
enum class Action { Copy, Int4, Fp8ToBf16, Drop };

// The input as an FP8 block-scaled checkpoint or a float one: FP8 weights
// are dequantized (and become INT4 or BF16), their scales dropped.
class Input {
 public:
  Input(const HFFolder& in, const QuantizePlan& quant)
      : in_(in), quant_(quant), fp8_(Fp8BlockConfig::from_hf(in.config(), in.dir() + "/config.json")) {}
  bool fp8() const { return fp8_.has_value(); }

  Action action(const std::string& name, const TensorView& t) const {
    if (fp8_ && ends_with(name, kScaleInvSuffix)) {
      // Validates that the scale belongs to an FP8 weight.
      fp8_->quantizes(in_, name.substr(0, name.size() - kScaleInvSuffix.size()));
      return Action::Drop;
    }
    if (t.dtype == DType::F8_E4M3) {
      if (!fp8_ || !ends_with(name, kWeightSuffix) || !fp8_->quantizes(in_, module_of(name))) {
        fail("{}: tensor '{}' is F8_E4M3 but config.json has no fp8 quantization_config covering it", t.file, name);
      }
    }
    if (quant_.quantizes(name, t)) return Action::Int4;
    return t.dtype == DType::F8_E4M3 ? Action::Fp8ToBf16 : Action::Copy;
  }

  // A 2-D weight in f32: FP8 dequantized blockwise, others decoded.
  std::vector<float> weights(const std::string& name, const TensorView& t) const {
    const int64_t rows = t.shape[0], cols = t.shape[1];
    std::vector<float> w(size_t(rows * cols));
    if (t.dtype == DType::F8_E4M3) {
      const Fp8Matrix m = load_fp8_block(in_, module_of(name), rows, cols);
      for (int64_t r = 0; r < rows; ++r) m.dequantize_row(r, &w[size_t(r * cols)]);
    } else {
      const size_t row_bytes = size_t(dtype_bytes(t.dtype, cols));
      for (int64_t r = 0; r < rows; ++r) dequantize_row(t.dtype, t.data + size_t(r) * row_bytes, cols, &w[size_t(r * cols)]);
    }
    return w;
  }

 private:
  const HFFolder& in_;
  const QuantizePlan& quant_;
  std::optional<Fp8BlockConfig> fp8_;
};

// INT4 g32 of one tensor (compressed-tensors words and bf16 scales) and its
// relative RMS error.
struct Int4Tensor {
  std::vector<int32_t> packed;
  std::vector<uint16_t> scales;
  double err = 0, norm = 0;
};

Int4Tensor quantize_tensor(const std::vector<float>& w, int64_t rows, int64_t cols) {
  Int4Tensor q;
  q.packed.resize(size_t(rows * cols / 8));
  q.scales.resize(size_t(rows * cols / 32));
  quantize_int4_g32(w.data(), rows, cols, q.packed.data(), q.scales.data());
  for (int64_t i = 0; i < rows * cols; ++i) {
    const uint32_t nib = (uint32_t(q.packed[size_t(i / 8)]) >> (4 * (i % 8))) & 0x0f;
    const double deq = double(bf16_to_f32(q.scales[size_t(i / 32)])) * (int(nib) - 8);
    q.err += (deq - w[size_t(i)]) * (deq - w[size_t(i)]);
    q.norm += double(w[size_t(i)]) * w[size_t(i)];
  }
  return q;
}

// Accumulates the report as tensors are quantized.
class Reporter {
 public:
  Reporter(uint64_t total, const std::function<void(uint64_t, uint64_t, const QuantizedTensor*)>& on_progress)
      : total_(total), on_progress_(on_progress) {}
  void copied(uint64_t bytes) {
    done_ += bytes;
    if (on_progress_) on_progress_(done_, total_, nullptr);
  }
  void quantized(const std::string& module, const Int4Tensor& q, uint64_t bytes) {
    err_ += q.err, norm_ += q.norm;
    report_.tensors.push_back({module, q.norm > 0 ? std::sqrt(q.err / q.norm) : 0.0});
    done_ += bytes;
    if (on_progress_) on_progress_(done_, total_, &report_.tensors.back());
  }
  QuantizeReport finish() {
    report_.overall_rel_rms_error = norm_ > 0 ? std::sqrt(err_ / norm_) : 0.0;
    return report_;
  }

 private:
  uint64_t total_, done_ = 0;
  const std::function<void(uint64_t, uint64_t, const QuantizedTensor*)>& on_progress_;
  QuantizeReport report_;
  double err_ = 0, norm_ = 0;
};

// Removes a partial output unless released.
struct PartialGuard {
  fs::path path;
  ~PartialGuard() {
    std::error_code ignored;
    if (!path.empty()) fs::remove_all(path, ignored);
  }
};

// The layout Kimi K2 Thinking ships: safetensors shards with an index, and
// config.json's quantization_config saying which modules are INT4.
void write_compressed_tensors(const HFFolder& in, const Input& input, const QuantizeOptions& opts,
                              const QuantizePlan& quant, Reporter& reporter) {
  const fs::path out(opts.out), partial(opts.out + ".partial");
  std::error_code ec;
  fs::remove_all(partial, ec);
  fs::create_directories(partial);
  PartialGuard guard{partial};
  {
    ShardedSafetensorsWriter writer(partial, opts.shard_bytes);
    for (const auto& [name, t] : in.tensors()) {
      switch (input.action(name, t)) {
        case Action::Int4: add_compressed_int4_tensors(writer, module_of(name), t.shape[0], t.shape[1]); break;
        case Action::Fp8ToBf16: writer.add_tensor(name, DType::BF16, t.shape); break;
        case Action::Copy: writer.add_tensor(name, t.dtype, t.shape); break;
        case Action::Drop: break;
      }
    }
    std::vector<uint16_t> bf16;
    for (const auto& [name, t] : in.tensors()) {
      switch (input.action(name, t)) {
        case Action::Int4: {
          const Int4Tensor q = quantize_tensor(input.weights(name, t), t.shape[0], t.shape[1]);
          write_compressed_int4(writer, q.packed.data(), q.scales.data(), t.shape[0], t.shape[1]);
          reporter.quantized(module_of(name), q, t.nbytes);
          break;
        }
        case Action::Fp8ToBf16: {
          const std::vector<float> w = input.weights(name, t);
          bf16.resize(w.size());
          for (size_t i = 0; i < w.size(); ++i) bf16[i] = f32_to_bf16(w[i]);
          writer.write_data(bf16.data(), bf16.size() * 2);
          reporter.copied(t.nbytes);
          break;
        }
        case Action::Copy: writer.write_data(t.data, t.nbytes); [[fallthrough]];
        case Action::Drop: reporter.copied(t.nbytes); break;
      }
    }
    writer.finish();
  }
  nlohmann::json config = in.config();
  config["quantization_config"] = quant.config.to_json();
  std::ofstream(partial / "config.json") << config.dump(2) << "\n";
  // Everything but the weights and config.json goes along as it is: the
  // tokenizer in whatever form (tokenizer.json, Kimi's tiktoken.model), the
  // chat template, the generation config.
  for (const fs::directory_entry& e : fs::directory_iterator(opts.model)) {
    const std::string name = e.path().filename().string();
    if (!e.is_regular_file() || name == "config.json" || name == "model.safetensors.index.json" ||
        e.path().extension() == ".safetensors") {
      continue;
    }
    fs::copy_file(e.path(), partial / name);
  }
  fs::rename(partial, out, ec);
  if (ec) fail("cannot rename {} to {}: {}", partial.string(), opts.out, ec.message());
  guard.path.clear();
}

// llama.cpp's layout (tools/gguf_layout.h): quantized tensors as Q4_0 (the
// same INT4 values, scales in f16), 1-D tensors F32, the rest as stored.
void write_q4_0_gguf(const HFFolder& in, const Input& input, const QuantizeOptions& opts,
                     const QuantizePlan& quant, Reporter& reporter) {
  const ModelConfig config = ModelConfig::from_hf(in.config(), opts.model + "/config.json");
  const std::string tokenizer_config = opts.model + "/tokenizer_config.json";
  const auto tokenizer = Tokenizer::from_hf(in.tokenizer_json_path(), fs::exists(tokenizer_config) ? tokenizer_config : "");
  std::vector<TensorSpec> plan = plan_tensors(config);
  std::erase_if(plan, [](const TensorSpec& t) { return t.hf_only; });

  // Each GGUF tensor's dtype, from its HF parts (which must agree).
  std::vector<DType> dtypes;
  for (const auto& t : plan) {
    const TensorView& first = in.get(t.parts[0].name, t.parts[0].shape);
    const bool q4 = quant.quantizes(t.parts[0].name, first);
    for (const auto& p : t.parts) {
      const TensorView& v = in.get(p.name, p.shape);
      if (quant.quantizes(p.name, v) != q4 || v.dtype != first.dtype) {
        fail("{}: '{}' and '{}' are stacked into GGUF tensor '{}' but differ in dtype or quantization", opts.model,
             t.parts[0].name, p.name, t.gguf_name);
      }
    }
    if (!q4 && first.dtype != DType::F32 && first.dtype != DType::F16 && first.dtype != DType::BF16) {
      fail("{}: tensor '{}' has dtype {}, expected F32, F16 or BF16", first.file, first.name, dtype_name(first.dtype));
    }
    if (q4 && t.split != TensorSpec::Split::None) {
      fail("{}: '{}' is split per head in GGUF and cannot be Q4_0 there; --ignore it", opts.model, t.parts[0].name);
    }
    dtypes.push_back(q4 ? DType::Q4_0 : t.shape.size() == 1 ? DType::F32 : first.dtype);
  }

  GGUFWriter writer(opts.out);
  write_gguf_metadata(writer, config, *tokenizer, fmt::format("strata quantize of {}", fs::path(opts.model).filename().string()),
                      kGGUFFileTypeQ4_0);
  for (size_t i = 0; i < plan.size(); ++i) writer.add_tensor(plan[i].gguf_name, dtypes[i], plan[i].shape);
  std::vector<uint8_t> blocks;
  std::vector<float> f32;
  int64_t inexact = 0;
  for (size_t i = 0; i < plan.size(); ++i) {
    if (plan[i].split != TensorSpec::Split::None) {
      // DeepSeek's kv_b_proj, per head: its elements in GGUF order.
      const TensorView& v = in.get(plan[i].parts[0].name);
      f32.resize(size_t(plan[i].parts[0].numel));
      dequantize_row(v.dtype, v.data, int64_t(f32.size()), f32.data());
      const int64_t n = numel_of(plan[i].shape);
      blocks.resize(size_t(dtype_bytes(dtypes[i], n)));
      for (int64_t e = 0; e < n; ++e) store_float(dtypes[i], f32[size_t(plan[i].hf_index(e))], blocks.data(), e);
      writer.write_data(blocks.data(), blocks.size());
      reporter.copied(v.nbytes / 2);  // each of the two halves (KB, VB) reads the whole tensor
      continue;
    }
    for (const auto& p : plan[i].parts) {
      const TensorView& v = in.get(p.name);
      if (dtypes[i] == DType::Q4_0) {
        const Int4Tensor q = quantize_tensor(input.weights(p.name, v), p.shape[0], p.shape[1]);
        blocks.resize(size_t(dtype_bytes(DType::Q4_0, p.numel)));
        inexact += !compressed_int4_to_q4_0(q.packed.data(), q.scales.data(), p.shape[0], p.shape[1], blocks.data());
        writer.write_data(blocks.data(), blocks.size());
        reporter.quantized(module_of(p.name), q, v.nbytes);
      } else if (dtypes[i] != v.dtype) {
        f32.resize(size_t(p.numel));
        dequantize_row(v.dtype, v.data, p.numel, f32.data());
        writer.write_data(f32.data(), f32.size() * sizeof(float));
        reporter.copied(v.nbytes);
      } else {
        writer.write_data(v.data, v.nbytes);
        reporter.copied(v.nbytes);
      }
    }
  }
  // A bf16 scale below f16's normal range loses bits in f16.
  if (inexact > 0) fail("{}: {} tensors have INT4 scales not representable in f16; not writing {}", opts.model, inexact, opts.out);
  writer.finish();
}

}  // namespace

QuantizeReport quantize_model(const QuantizeOptions& opts,
                              const std::function<void(uint64_t, uint64_t, const QuantizedTensor*)>& on_progress) {
  const HFFolder in(opts.model);
  const ModelConfig config = ModelConfig::from_hf(in.config(), opts.model + "/config.json");
  QuantizePlan quant{{opts.targets, opts.ignore}, not_linear_weights(config)};
  if (opts.targets.empty()) {
    // As Kimi K2 Thinking ships: every Linear is a target, and the
    // architecture's list ignores all but the routed experts.
    if (config.num_experts == 0) fail("{}: {} has no routed experts; pass --targets", opts.model, config.architecture);
    quant.config.targets = {"Linear"};
    quant.config.ignore = arch_of(config).int4_ignore;
    quant.config.ignore.insert(quant.config.ignore.end(), opts.ignore.begin(), opts.ignore.end());
  }
  const Input input(in, quant);
  if (!input.fp8() && in.config().contains("quantization_config")) {
    fail("{}/config.json: the model is already quantized", opts.model);
  }
  if (input.fp8() && opts.format != QuantizeFormat::CompressedTensors) {
    fail("{}/config.json: an FP8 checkpoint can only be quantized to compressed-tensors (--format ct)", opts.model);
  }
  // Parsing what will be written checks the "re:" patterns.
  CompressedTensorsConfig::from_hf({{"quantization_config", quant.config.to_json()}}, "quantize --targets/--ignore");
  std::error_code ec;
  if (fs::exists(opts.out, ec)) fail("{}: already exists", opts.out);

  uint64_t total = 0;
  for (const auto& [name, t] : in.tensors()) total += t.nbytes;
  Reporter reporter(total, on_progress);
  if (opts.format == QuantizeFormat::Q4_0GGUF) {
    write_q4_0_gguf(in, input, opts, quant, reporter);
  } else {
    write_compressed_tensors(in, input, opts, quant, reporter);
  }
  return reporter.finish();
}

}  // namespace strata
