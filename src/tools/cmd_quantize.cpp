// `strata quantize`: HF BF16/F32 (or FP8 block-scaled) folder -> compressed-tensors INT4 g32 or Q4_0 GGUF. See tools/quantize.h.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <fmt/core.h>
#include <memory>

#include "core/error.h"
#include "tools/commands.h"
#include "tools/progress_bar.h"
#include "tools/quantize.h"

namespace strata {

void add_quantize_command(CLI::App& app) {
  auto opts = std::make_shared<QuantizeOptions>();
  auto format = std::make_shared<std::string>("ct");
  CLI::App* cmd = app.add_subcommand("quantize", "Quantize a Hugging Face model to INT4 g32 (compressed-tensors)");
  cmd->add_option("--model", opts->model, "input Hugging Face folder (BF16/F16/F32, or FP8 block-scaled)")->required();
  cmd->add_option("--out", opts->out, "output folder (ct) or .gguf file (q4_0-gguf)")->required();
  cmd->add_option("--format", *format,
                  "ct (compressed-tensors pack-quantized) or q4_0-gguf (llama.cpp GGUF, quantized tensors Q4_0)");
  cmd->add_option("--targets", opts->targets, "modules to quantize (names or re: regexes; default: every Linear but the architecture's ignore list, i.e. the routed experts)");
  cmd->add_option("--ignore", opts->ignore, "modules to keep in 16-bit (names or re: regexes)");
  cmd->add_option("--shard-size", opts->shard_bytes, "ct: safetensors shard size limit (e.g. 4GiB, 100MB)")
      ->transform(CLI::AsSizeValue(false))
      ->check(CLI::PositiveNumber);
  cmd->callback([opts, format] {
    if (*format == "q4_0-gguf") {
      opts->format = QuantizeFormat::Q4_0GGUF;
    } else if (*format != "ct") {
      fail("quantize: unknown --format '{}' (use ct or q4_0-gguf)", *format);
    }
    std::unique_ptr<ProgressBar> bar;
    const QuantizeReport report = quantize_model(*opts, [&](uint64_t done, uint64_t total, const QuantizedTensor*) {
      if (!bar) bar = std::make_unique<ProgressBar>("quantize", total, isatty(2));
      bar->update(done);
    });
    if (bar) bar->finish();
    for (const auto& t : report.tensors) fmt::print("{}: relative RMS error {:.4f}\n", t.module, t.rel_rms_error);
    fmt::print("quantized {} tensors; overall relative RMS error {:.4f}; wrote {}\n", report.tensors.size(),
               report.overall_rel_rms_error, opts->out);
  });
}

}  // namespace strata
