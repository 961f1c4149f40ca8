#include "workbench/definition_templates.h"

#include <fmt/format.h>

namespace strata {

namespace {

using Json = nlohmann::ordered_json;

Json tensor(std::vector<std::string> shape, const char* dtype) { return {{"shape", shape}, {"dtype", dtype}}; }

constexpr const char* kGemmBf16Reference = R"PY(import torch

@torch.no_grad()
def run(A, B):
    C = torch.matmul(A, B.to(torch.float32).T)
    return C
)PY";

constexpr const char* kGemmW4Reference = R"PY(import torch

def dequantize_w4_g32(packed, scale):
    # compressed-tensors pack-quantized: 8 unsigned nibbles per int32, low first, value = (nibble - 8) * scale
    shifts = torch.arange(0, 32, 4, dtype=torch.int32, device=packed.device)
    nibbles = (packed.unsqueeze(-1) >> shifts) & 0xF
    q = nibbles.reshape(*packed.shape[:-1], packed.shape[-1] * 8).to(torch.float32) - 8.0
    return q * scale.to(torch.float32).repeat_interleave(32, dim=-1)

@torch.no_grad()
def run(A, B_packed, B_scale):
    C = torch.matmul(A, dequantize_w4_g32(B_packed, B_scale).T)
    return C
)PY";

constexpr const char* kRmsnormReference = R"PY(import torch

@torch.no_grad()
def run(hidden_states, weight):
    EPS = 1e-6
    inv_rms = torch.rsqrt(hidden_states.pow(2).mean(dim=-1, keepdim=True) + EPS)
    return hidden_states * inv_rms * weight
)PY";

Json gemm_bf16(int64_t n, int64_t k) {
  return {{"name", fmt::format("gemm_f32_bf16_n{}_k{}", n, k)},
          {"op_type", "gemm"},
          {"description", "C = A @ B.T with f32 activations and bf16 weights, f32 accumulation and output. Captured from strata."},
          {"tags", {"status:unverified", "strata_kernel:gemm_bf16"}},
          {"axes", {{"M", {{"type", "var"}, {"description", "tokens"}}},
                    {"N", {{"type", "const"}, {"value", n}}},
                    {"K", {{"type", "const"}, {"value", k}}}}},
          {"inputs", {{"A", tensor({"M", "K"}, "float32")},
                      {"B", {{"shape", {"N", "K"}}, {"dtype", "bfloat16"}, {"description", "weight, row-major [out, in]"}}}}},
          {"outputs", {{"C", tensor({"M", "N"}, "float32")}}},
          {"reference", kGemmBf16Reference}};
}

Json gemm_w4a16(int64_t n, int64_t k) {
  return {{"name", fmt::format("gemm_w4a16_g32_n{}_k{}", n, k)},
          {"op_type", "gemm"},
          {"description", "C = A @ dequant(B).T, B INT4 g32 symmetric (compressed-tensors pack-quantized: 8 nibbles per int32, "
                          "low nibble first, value (nibble - 8) * bf16 scale per 32 inputs), f32 activations and output. "
                          "Captured from strata."},
          {"tags", {"status:unverified", "quantization:w4a16_g32", "strata_kernel:gemm_w4a16_g32"}},
          {"axes", {{"M", {{"type", "var"}, {"description", "tokens"}}},
                    {"N", {{"type", "const"}, {"value", n}}},
                    {"K", {{"type", "const"}, {"value", k}}},
                    {"K_packed", {{"type", "const"}, {"value", k / 8}, {"description", "K / 8 int32 words per row"}}},
                    {"K_groups", {{"type", "const"}, {"value", k / 32}, {"description", "K / 32 scale groups per row"}}}}},
          {"inputs", {{"A", tensor({"M", "K"}, "float32")},
                      {"B_packed", tensor({"N", "K_packed"}, "int32")},
                      {"B_scale", tensor({"N", "K_groups"}, "bfloat16")}}},
          {"outputs", {{"C", tensor({"M", "N"}, "float32")}}},
          {"reference", kGemmW4Reference}};
}

Json rmsnorm(int64_t h) {
  return {{"name", fmt::format("rmsnorm_f32_h{}", h)},
          {"op_type", "rmsnorm"},
          {"description", "Root mean square normalisation, output = x / sqrt(mean(x^2) + eps) * weight with eps = 1e-6, f32. "
                          "Captured from strata."},
          {"tags", {"status:unverified", "strata_kernel:rmsnorm"}},
          {"axes", {{"batch_size", {{"type", "var"}, {"description", "rows"}}}, {"hidden_size", {{"type", "const"}, {"value", h}}}}},
          {"inputs", {{"hidden_states", tensor({"batch_size", "hidden_size"}, "float32")},
                      {"weight", tensor({"hidden_size"}, "float32")}}},
          {"outputs", {{"output", tensor({"batch_size", "hidden_size"}, "float32")}}},
          {"reference", kRmsnormReference}};
}

}  // namespace

std::optional<Definition> definition_for_call(std::string_view kernel, std::span<const int64_t> shape) {
  Json j;
  if (kernel == "gemm_bf16" && shape.size() == 2) {
    j = gemm_bf16(shape[0], shape[1]);
  } else if (kernel == "gemm_w4a16_g32" && shape.size() == 2) {
    j = gemm_w4a16(shape[0], shape[1]);
  } else if (kernel == "rmsnorm" && shape.size() == 1) {
    j = rmsnorm(shape[0]);
  } else {
    return std::nullopt;
  }
  return Definition::from_json(j, "template");
}

}  // namespace strata
