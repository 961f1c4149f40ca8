#pragma once
// Multi-head latent attention (DeepSeek-V2/V3, Kimi K2) of one layer over the
// paged KV cache, which keeps one latent row per token:
//   cq = RMSNorm(x W_qa) (or no q LoRA: q = x W_q);  q = cq W_qb -> per head [q_nope | q_pe]
//   [c | k_pe] = x W_kva;  c = RMSNorm(c);  q_pe, k_pe roped (interleaved, YaRN);  cache row = [c | k_pe]
//   naive:    k[h] = [W_UK[h] c | k_pe], v[h] = W_UV[h] c;  o[h] = softmax(scale q[h].k[h]) v[h]
//   absorbed: q_lat[h] = W_UK[h]^T q_nope[h];  o_lat[h] = softmax(scale [q_lat|q_pe].[c|k_pe]) c;
//             o[h] = W_UV[h] o_lat[h]
//   out = concat_h o[h] W_o
// The two forms are exact rewrites of each other. The model runs the
// absorbed one, which reads only the latent rows (kernels/mla_attention.h);
// the naive one is the reference it is tested against. As in attention_block,
// every row's latent is stored before any row attends.
#include <cstdint>
#include <vector>

#include "kernels/matmul.h"
#include "model/layer_spec.h"

namespace strata {

class Workspace;
struct BatchRows;
struct KVLayerView;

struct MlaWeights {
  WeightMatrix q_a, q_b;  // with q LoRA: [q_lora, hidden], [heads * (nope + rope), q_lora]
  WeightMatrix q;         // without: [heads * (nope + rope), hidden]
  std::vector<float> q_a_norm, kv_a_norm;
  WeightMatrix kv_a;                  // [kv_lora + rope, hidden]
  std::vector<WeightMatrix> k_b, v_b;  // per head: W_UK^T [kv_lora, nope]; W_UV [v, kv_lora]
  WeightMatrix o;                     // [hidden, heads * v]
};

enum class MlaForm : uint8_t { Absorbed, Naive };

void mla_block(const MlaSpec& spec, const MlaWeights& w, const BatchRows& rows, const float* x, float* out,
               const KVLayerView& kv, Workspace& ws, MlaForm form = MlaForm::Absorbed);

}  // namespace strata
