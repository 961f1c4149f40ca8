#pragma once
// The dataset definitions of a kernel call's shape, made from templates:
// what workload capture writes for a shape the dataset does not define yet.
// Each agrees with the hand-described files in kernels/definitions/ of its
// family in everything but the description and the model tag (test).
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include "kernels/solution_registry.h"
#include "workbench/definition.h"

namespace strata {

// gemm_bf16 {N, K} -> gemm_f32_bf16_n{N}_k{K}; gemm_w4a16_g32 {N, K} ->
// gemm_w4a16_g32_n{N}_k{K} on the exact path, gemm_w4a8_g32_n{N}_k{K} on the
// W4A8 one; rmsnorm {H} -> rmsnorm_f32_h{H}; fused_add_rmsnorm {H} ->
// fused_add_rmsnorm_f32_h{H}. Other kernels: nullopt.
std::optional<Definition> definition_for_call(std::string_view kernel, std::span<const int64_t> shape, NumericPath path);

// Paged attention over 16-token pages: gqa_paged_attention {H, KV, D, PS} ->
// gqa_paged_{decode|prefill_causal}_f32_h{H}_kv{KV}_d{D}_ps{PS};
// mla_paged_attention {H, CKV, KPE, PS} ->
// mla_paged_{decode|prefill_causal}_f32_h{H}_ckv{CKV}_kpe{KPE}_ps{PS}.
// Other kernels: nullopt.
std::optional<Definition> paged_definition_for_call(std::string_view kernel, std::span<const int64_t> shape, bool prefill);

// The routed experts of an INT4 g32 MoE layer, routing given ({E, top_k, H,
// I}) -> moe_w4a16_g32_precomputed_topk{top_k}_e{E}_h{H}_i{I}.
std::optional<Definition> moe_definition_for_call(std::span<const int64_t> shape);

}  // namespace strata
