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

constexpr const char* kGemmW4a8Reference = R"PY(import torch

def quantize_q8_0(A):
    # llama.cpp's Q8_0 per 32 activations: d = max|x| / 127 rounded to f16, q = round(x / d) (to even)
    M, K = A.shape
    g = A.reshape(M, K // 32, 32)
    amax = g.abs().amax(dim=-1, keepdim=True)
    inv = torch.where(amax > 0, 127.0 / amax, torch.zeros_like(amax))
    q = torch.round(g * inv)
    d = (amax / 127.0).to(torch.float16).to(torch.float32)
    return q, d.squeeze(-1)

@torch.no_grad()
def run(A, B_packed, B_scale):
    q, d = quantize_q8_0(A)
    N = B_packed.shape[0]
    shifts = torch.arange(0, 32, 4, dtype=torch.int32, device=B_packed.device)
    w = (((B_packed.unsqueeze(-1) >> shifts) & 0xF).reshape(N, -1, 32).to(torch.float32) - 8.0)
    dots = torch.einsum("mgi,ngi->mng", q, w)
    C = (dots * d.unsqueeze(1) * B_scale.to(torch.float32).unsqueeze(0)).sum(dim=-1)
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

// The INT4 GEMM on one numeric path: W4A16 proper, or W4A8 (int8 activations).
Json gemm_int4(int64_t n, int64_t k, bool w4a8) {
  const char* quant = w4a8 ? "w4a8_g32" : "w4a16_g32";
  return {{"name", fmt::format("gemm_{}_n{}_k{}", quant, n, k)},
          {"op_type", "gemm"},
          {"description", w4a8 ? "C = A @ dequant(B).T with A quantized per 32 values to int8 as llama.cpp's Q8_0, B INT4 "
                                 "g32 as in gemm_w4a16_g32_*; f32 output. Captured from strata."
                               : "C = A @ dequant(B).T, B INT4 g32 symmetric (compressed-tensors pack-quantized: 8 nibbles "
                                 "per int32, low nibble first, value (nibble - 8) * bf16 scale per 32 inputs), f32 "
                                 "activations and output. Captured from strata."},
          {"tags", {"status:unverified", fmt::format("quantization:{}", quant), "strata_kernel:gemm_w4a16_g32",
                    w4a8 ? "strata_path:w4a8" : "strata_path:exact"}},
          {"axes", {{"M", {{"type", "var"}, {"description", "tokens"}}},
                    {"N", {{"type", "const"}, {"value", n}}},
                    {"K", {{"type", "const"}, {"value", k}}},
                    {"K_packed", {{"type", "const"}, {"value", k / 8}, {"description", "K / 8 int32 words per row"}}},
                    {"K_groups", {{"type", "const"}, {"value", k / 32}, {"description", "K / 32 scale groups per row"}}}}},
          {"inputs", {{"A", tensor({"M", "K"}, "float32")},
                      {"B_packed", tensor({"N", "K_packed"}, "int32")},
                      {"B_scale", tensor({"N", "K_groups"}, "bfloat16")}}},
          {"outputs", {{"C", tensor({"M", "N"}, "float32")}}},
          {"reference", w4a8 ? kGemmW4a8Reference : kGemmW4Reference}};
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

std::optional<Definition> definition_for_call(std::string_view kernel, std::span<const int64_t> shape, NumericPath path) {
  Json j;
  if (kernel == "gemm_bf16" && shape.size() == 2) {
    j = gemm_bf16(shape[0], shape[1]);
  } else if (kernel == "gemm_w4a16_g32" && shape.size() == 2) {
    j = gemm_int4(shape[0], shape[1], path == NumericPath::W4A8);
  } else if (kernel == "rmsnorm" && shape.size() == 1) {
    j = rmsnorm(shape[0]);
  } else {
    return std::nullopt;
  }
  return Definition::from_json(j, "template");
}

}  // namespace strata
