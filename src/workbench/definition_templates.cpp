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

constexpr const char* kDequantizeW4 = R"PY(import torch

def dequantize_w4_g32(packed, scale):
    # compressed-tensors pack-quantized: 8 unsigned nibbles per int32, low first, value = (nibble - 8) * scale
    shifts = torch.arange(0, 32, 4, dtype=torch.int32, device=packed.device)
    nibbles = (packed.unsqueeze(-1) >> shifts) & 0xF
    q = nibbles.reshape(*packed.shape[:-1], packed.shape[-1] * 8).to(torch.float32) - 8.0
    return q * scale.to(torch.float32).repeat_interleave(32, dim=-1)

)PY";

constexpr const char* kGemmW4Run = R"PY(@torch.no_grad()
def run(A, B_packed, B_scale):
    C = torch.matmul(A, dequantize_w4_g32(B_packed, B_scale).T)
    return C
)PY";

constexpr const char* kMoeW4Run = R"PY(@torch.no_grad()
def run(hidden_states, topk_ids, topk_weights, gate_packed, gate_scale, up_packed, up_scale, down_packed, down_scale):
    output = torch.zeros_like(hidden_states)
    for e in torch.unique(topk_ids).tolist():
        rows, slots = torch.nonzero(topk_ids == e, as_tuple=True)
        x = hidden_states[rows]
        gate = x @ dequantize_w4_g32(gate_packed[e], gate_scale[e]).T
        up = x @ dequantize_w4_g32(up_packed[e], up_scale[e]).T
        y = (gate * torch.sigmoid(gate) * up) @ dequantize_w4_g32(down_packed[e], down_scale[e]).T
        output.index_add_(0, rows, y * topk_weights[rows, slots].unsqueeze(1))
    return output
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

constexpr const char* kSequenceKv = R"PY(import torch

def sequence_kv(cache, kv_indptr, kv_indices, kv_last_page_len, b):
    # Sequence b's cached rows in position order: its pages, the last one filled to kv_last_page_len[b].
    pages = kv_indices[kv_indptr[b]:kv_indptr[b + 1]].long()
    rows = cache[pages].reshape(-1, *cache.shape[2:])
    page_size = cache.shape[1]
    return rows[: (pages.numel() - 1) * page_size + int(kv_last_page_len[b])]

)PY";

constexpr const char* kCausalAttention = R"PY(@torch.no_grad()
def causal_attention(q, k, v, sm_scale):
    # q: [n_q, H, D] are the last n_q of the n_kv positions; k, v: [n_kv, H, Dk], [n_kv, H, Dv].
    n_q, n_kv = q.shape[0], k.shape[0]
    scores = torch.einsum("qhd,nhd->hqn", q, k) * sm_scale
    visible = torch.arange(n_kv).unsqueeze(0) <= torch.arange(n_kv - n_q, n_kv).unsqueeze(1)
    scores = scores.masked_fill(~visible.unsqueeze(0), float("-inf"))
    return torch.einsum("hqn,nhd->qhd", torch.softmax(scores, dim=-1), v)

)PY";

constexpr const char* kGqaDecodeRun = R"PY(@torch.no_grad()
def run(q, k_cache, v_cache, kv_indptr, kv_indices, kv_last_page_len, sm_scale):
    batch_size, num_qo_heads, head_dim = q.shape
    group = num_qo_heads // k_cache.shape[2]
    output = torch.empty_like(q)
    for b in range(batch_size):
        k = sequence_kv(k_cache, kv_indptr, kv_indices, kv_last_page_len, b).repeat_interleave(group, dim=1)
        v = sequence_kv(v_cache, kv_indptr, kv_indices, kv_last_page_len, b).repeat_interleave(group, dim=1)
        scores = torch.einsum("hd,nhd->hn", q[b], k) * sm_scale
        output[b] = torch.einsum("hn,nhd->hd", torch.softmax(scores, dim=-1), v)
    return output
)PY";

constexpr const char* kGqaPrefillRun = R"PY(@torch.no_grad()
def run(q, qo_indptr, k_cache, v_cache, kv_indptr, kv_indices, kv_last_page_len, sm_scale):
    group = q.shape[1] // k_cache.shape[2]
    output = torch.empty_like(q)
    for b in range(qo_indptr.numel() - 1):
        rows = slice(int(qo_indptr[b]), int(qo_indptr[b + 1]))
        k = sequence_kv(k_cache, kv_indptr, kv_indices, kv_last_page_len, b).repeat_interleave(group, dim=1)
        v = sequence_kv(v_cache, kv_indptr, kv_indices, kv_last_page_len, b).repeat_interleave(group, dim=1)
        output[rows] = causal_attention(q[rows], k, v, sm_scale)
    return output
)PY";

constexpr const char* kMlaDecodeRun = R"PY(@torch.no_grad()
def run(q_nope, q_pe, ckv_cache, kpe_cache, kv_indptr, kv_indices, kv_last_page_len, sm_scale):
    output = torch.empty_like(q_nope)
    for b in range(q_nope.shape[0]):
        ckv = sequence_kv(ckv_cache, kv_indptr, kv_indices, kv_last_page_len, b)
        kpe = sequence_kv(kpe_cache, kv_indptr, kv_indices, kv_last_page_len, b)
        scores = (q_nope[b] @ ckv.T + q_pe[b] @ kpe.T) * sm_scale
        output[b] = torch.softmax(scores, dim=-1) @ ckv
    return output
)PY";

constexpr const char* kMlaPrefillRun = R"PY(@torch.no_grad()
def run(q_nope, q_pe, qo_indptr, ckv_cache, kpe_cache, kv_indptr, kv_indices, kv_last_page_len, sm_scale):
    output = torch.empty_like(q_nope)
    for b in range(qo_indptr.numel() - 1):
        rows = slice(int(qo_indptr[b]), int(qo_indptr[b + 1]))
        ckv = sequence_kv(ckv_cache, kv_indptr, kv_indices, kv_last_page_len, b)
        kpe = sequence_kv(kpe_cache, kv_indptr, kv_indices, kv_last_page_len, b)
        q = torch.cat([q_nope[rows], q_pe[rows]], dim=-1)
        k = torch.cat([ckv, kpe], dim=-1).unsqueeze(1).expand(-1, q.shape[1], -1)
        output[rows] = causal_attention(q, k, ckv.unsqueeze(1).expand(-1, q.shape[1], -1), sm_scale)
    return output
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
          {"reference", w4a8 ? std::string(kGemmW4a8Reference) : std::string(kDequantizeW4) + kGemmW4Run}};
}

constexpr const char* kFusedAddRmsnormReference = R"PY(import torch

@torch.no_grad()
def run(hidden_states, residual, weight):
    EPS = 1e-6
    x = hidden_states + residual
    return x * torch.rsqrt(x.pow(2).mean(dim=-1, keepdim=True) + EPS) * weight
)PY";

Json fused_add_rmsnorm(int64_t h) {
  return {{"name", fmt::format("fused_add_rmsnorm_f32_h{}", h)},
          {"op_type", "rmsnorm"},
          {"description", "residual += hidden_states, then output = rmsnorm(residual) * weight with eps = 1e-6, f32 (the "
                          "residual update is in place and, as upstream, not an output). Captured from strata."},
          {"tags", {"status:unverified", "fused", "strata_kernel:fused_add_rmsnorm"}},
          {"axes", {{"batch_size", {{"type", "var"}, {"description", "rows"}}}, {"hidden_size", {{"type", "const"}, {"value", h}}}}},
          {"inputs", {{"hidden_states", tensor({"batch_size", "hidden_size"}, "float32")},
                      {"residual", tensor({"batch_size", "hidden_size"}, "float32")},
                      {"weight", tensor({"hidden_size"}, "float32")}}},
          {"outputs", {{"output", tensor({"batch_size", "hidden_size"}, "float32")}}},
          {"reference", kFusedAddRmsnormReference}};
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

Json const_axis(int64_t value) { return {{"type", "const"}, {"value", value}}; }

Json described(Json j, const char* description) {
  j["description"] = description;
  return j;
}

// GQA (mla = false: shape {H, KV, D, PS}) or MLA ({H, CKV, KPE, PS}) paged
// attention, decode or causal prefill: the families' shared layout of axes,
// constraints and inputs, each family's own heads, caches and reference.
Json paged_attention(bool mla, bool prefill, std::span<const int64_t> shape) {
  const std::string rows = prefill ? "total_q" : "batch_size";
  Json axes;
  if (prefill) axes["total_q"] = {{"type", "var"}, {"description", "query tokens over all sequences"}};
  axes["batch_size"] = {{"type", "var"}};
  axes["num_qo_heads"] = const_axis(shape[0]);
  Json inputs, outputs;
  if (mla) {
    axes["head_dim_ckv"] = const_axis(shape[1]);
    axes["head_dim_kpe"] = const_axis(shape[2]);
    inputs["q_nope"] = described(tensor({rows, "num_qo_heads", "head_dim_ckv"}, "float32"),
                                 "W_UK^T q_nope: the query moved into the latent space");
    inputs["q_pe"] = tensor({rows, "num_qo_heads", "head_dim_kpe"}, "float32");
  } else {
    axes["num_kv_heads"] = const_axis(shape[1]);
    axes["head_dim"] = const_axis(shape[2]);
    inputs["q"] = tensor({rows, "num_qo_heads", "head_dim"}, "float32");
  }
  axes["num_pages"] = {{"type", "var"}};
  axes["page_size"] = const_axis(shape[3]);
  axes["len_indptr"] = {{"type", "var"}, {"description", "batch_size + 1"}};
  axes["num_kv_indices"] = {{"type", "var"}, {"description", "pages over all sequences"}};
  if (prefill) inputs["qo_indptr"] = tensor({"len_indptr"}, "int32");
  if (mla) {
    inputs["ckv_cache"] = described(tensor({"num_pages", "page_size", "head_dim_ckv"}, "float32"), "normalised latent c_kv");
    inputs["kpe_cache"] = described(tensor({"num_pages", "page_size", "head_dim_kpe"}, "float32"), "roped k_pe");
  } else {
    inputs["k_cache"] = tensor({"num_pages", "page_size", "num_kv_heads", "head_dim"}, "float32");
    inputs["v_cache"] = tensor({"num_pages", "page_size", "num_kv_heads", "head_dim"}, "float32");
  }
  inputs["kv_indptr"] = tensor({"len_indptr"}, "int32");
  inputs["kv_indices"] = tensor({"num_kv_indices"}, "int32");
  inputs["kv_last_page_len"] =
      described(tensor({"batch_size"}, "int32"), "positions used in each sequence's last page, 1..page_size");
  inputs["sm_scale"] = {{"shape", nullptr}, {"dtype", "float32"}};
  outputs["output"] = tensor({rows, "num_qo_heads", mla ? "head_dim_ckv" : "head_dim"}, "float32");
  Json constraints = {"len_indptr == batch_size + 1"};
  if (prefill) constraints.push_back("total_q == qo_indptr[-1].item()");
  constraints.push_back("num_kv_indices == kv_indptr[-1].item()");
  const char* stage = prefill ? "prefill_causal" : "decode";
  const std::string name =
      mla ? fmt::format("mla_paged_{}_f32_h{}_ckv{}_kpe{}_ps{}", stage, shape[0], shape[1], shape[2], shape[3])
          : fmt::format("gqa_paged_{}_f32_h{}_kv{}_d{}_ps{}", stage, shape[0], shape[1], shape[2], shape[3]);
  const std::string reference = std::string(kSequenceKv) + (prefill ? kCausalAttention : "") +
                                (mla ? (prefill ? kMlaPrefillRun : kMlaDecodeRun) : (prefill ? kGqaPrefillRun : kGqaDecodeRun));
  return {{"name", name},
          {"op_type", mla ? "mla_paged" : "gqa_paged"},
          {"description", fmt::format("{} attention over a paged KV cache, {}, f32 throughout. Captured from strata.",
                                      mla ? "MLA (absorbed)" : "Grouped-query", prefill ? "causal prefill" : "decode")},
          {"tags", {"status:unverified", fmt::format("stage:{}", prefill ? "prefill" : "decode"),
                    mla ? "strata_kernel:mla_paged_attention" : "strata_kernel:gqa_paged_attention"}},
          {"axes", axes},
          {"constraints", constraints},
          {"inputs", inputs},
          {"outputs", outputs},
          {"reference", reference}};
}

// The routed experts of a MoE layer with INT4 g32 weights, routing given:
// shape {E, top_k, H, I}.
Json moe_w4a16(std::span<const int64_t> shape) {
  const int64_t experts = shape[0], top_k = shape[1], h = shape[2], i = shape[3];
  auto weight = [](const char* rows, const char* cols) { return std::vector<std::string>{"num_experts", rows, cols}; };
  Json inputs;
  inputs["hidden_states"] = tensor({"seq_len", "hidden_size"}, "float32");
  inputs["topk_ids"] = described(tensor({"seq_len", "top_k"}, "int32"), "expert of each (token, slot), in [0, num_experts)");
  inputs["topk_weights"] = tensor({"seq_len", "top_k"}, "float32");
  inputs["gate_packed"] = tensor(weight("intermediate_size", "hidden_packed"), "int32");
  inputs["gate_scale"] = tensor(weight("intermediate_size", "hidden_groups"), "bfloat16");
  inputs["up_packed"] = tensor(weight("intermediate_size", "hidden_packed"), "int32");
  inputs["up_scale"] = tensor(weight("intermediate_size", "hidden_groups"), "bfloat16");
  inputs["down_packed"] = tensor(weight("hidden_size", "intermediate_packed"), "int32");
  inputs["down_scale"] = tensor(weight("hidden_size", "intermediate_groups"), "bfloat16");
  return {{"name", fmt::format("moe_w4a16_g32_precomputed_topk{}_e{}_h{}_i{}", top_k, experts, h, i)},
          {"op_type", "moe"},
          {"description", "Routed experts of a MoE layer, routing done: output[t] = sum_j topk_weights[t, j] * "
                          "down_e(silu(gate_e(x_t)) * up_e(x_t)) with e = topk_ids[t, j]; weights INT4 g32 as in "
                          "gemm_w4a16_g32_*; f32 activations and output. Captured from strata."},
          {"tags", {"status:unverified", "quantization:w4a16_g32", "routing:pre-computed", "fused",
                    "strata_kernel:gemm_w4a16_g32", "strata_path:exact"}},
          {"axes", {{"seq_len", {{"type", "var"}, {"description", "tokens"}}},
                    {"num_experts", const_axis(experts)},
                    {"top_k", const_axis(top_k)},
                    {"hidden_size", const_axis(h)},
                    {"intermediate_size", const_axis(i)},
                    {"hidden_packed", const_axis(h / 8)},
                    {"hidden_groups", const_axis(h / 32)},
                    {"intermediate_packed", const_axis(i / 8)},
                    {"intermediate_groups", const_axis(i / 32)}}},
          {"constraints", {"topk_ids.max().item() < num_experts"}},
          {"inputs", inputs},
          {"outputs", {{"output", tensor({"seq_len", "hidden_size"}, "float32")}}},
          {"reference", std::string(kDequantizeW4) + kMoeW4Run}};
}

}  // namespace

std::optional<Definition> moe_definition_for_call(std::span<const int64_t> shape) {
  if (shape.size() != 4) return std::nullopt;
  return Definition::from_json(moe_w4a16(shape), "template");
}

std::optional<Definition> paged_definition_for_call(std::string_view kernel, std::span<const int64_t> shape, bool prefill) {
  if (shape.size() != 4 || (kernel != "gqa_paged_attention" && kernel != "mla_paged_attention")) return std::nullopt;
  return Definition::from_json(paged_attention(kernel == "mla_paged_attention", prefill, shape), "template");
}

std::optional<Definition> definition_for_call(std::string_view kernel, std::span<const int64_t> shape, NumericPath path) {
  Json j;
  if (kernel == "gemm_bf16" && shape.size() == 2) {
    j = gemm_bf16(shape[0], shape[1]);
  } else if (kernel == "gemm_w4a16_g32" && shape.size() == 2) {
    j = gemm_int4(shape[0], shape[1], path == NumericPath::W4A8);
  } else if (kernel == "rmsnorm" && shape.size() == 1) {
    j = rmsnorm(shape[0]);
  } else if (kernel == "fused_add_rmsnorm" && shape.size() == 1) {
    j = fused_add_rmsnorm(shape[0]);
  } else {
    return std::nullopt;
  }
  return Definition::from_json(j, "template");
}

}  // namespace strata
