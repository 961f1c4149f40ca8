#!/usr/bin/python3
"""Independent float64 numpy forward pass of DeepSeek-V3 / Kimi K2 (the
Hugging Face modelling code's maths): multi-head latent attention in its
naive form (the latent expanded by kv_b_proj into per-head keys and values),
RoPE the way HF writes it (de-interleave the rope dims, then rotate halves)
with DeepSeek's YaRN including the betas and mscale that llama.cpp ignores,
leading dense layers, shared experts and noaux_tc routing. Reads a model
folder's config.json and model.safetensors. Used by tests/test_mla.cpp.

usage: deepseek_v3_ref.py MODEL_DIR TOKENS OUT   (as qwen3_moe_ref.py)
"""
import math
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from qwen3_moe_ref import mlp, rmsnorm, run_reference  # noqa: E402


def yarn_get_mscale(scale, mscale):
    return 1.0 if scale <= 1 else 0.1 * mscale * math.log(scale) + 1.0


def rope_inv_freq_and_mscale(cfg):
    dim, base = cfg["qk_rope_head_dim"], cfg["rope_theta"]
    freq_extra = 1.0 / (base ** (np.arange(0, dim, 2, dtype=np.float64) / dim))
    rs = cfg.get("rope_scaling")
    if not rs:
        return freq_extra, 1.0
    factor, original = rs["factor"], rs["original_max_position_embeddings"]
    beta_fast, beta_slow = rs.get("beta_fast", 32), rs.get("beta_slow", 1)

    def correction_dim(rotations):
        return dim * math.log(original / (rotations * 2 * math.pi)) / (2 * math.log(base))

    low = max(math.floor(correction_dim(beta_fast)), 0)
    high = min(math.ceil(correction_dim(beta_slow)), dim - 1)
    if low == high:
        high += 0.001
    ramp = np.clip((np.arange(dim // 2, dtype=np.float64) - low) / (high - low), 0, 1)
    inv_freq_mask = 1.0 - ramp
    inv_freq = freq_extra / factor * (1 - inv_freq_mask) + freq_extra * inv_freq_mask
    mscale = yarn_get_mscale(factor, rs.get("mscale", 1)) / yarn_get_mscale(factor, rs.get("mscale_all_dim", 0))
    return inv_freq, mscale


def apply_rope_interleave(x, positions, inv_freq, mscale):
    # HF apply_rotary_pos_emb_interleave: [.., d] -> view(d/2, 2).transpose -> rotate_half.
    d = x.shape[-1]
    x = x.reshape(*x.shape[:-1], d // 2, 2).swapaxes(-1, -2).reshape(x.shape)
    freqs = positions[:, None].astype(np.float64) * inv_freq[None, :]
    emb = np.concatenate([freqs, freqs], axis=-1)
    cos, sin = np.cos(emb) * mscale, np.sin(emb) * mscale
    if x.ndim == 3:
        cos, sin = cos[:, None, :], sin[:, None, :]
    rotated = np.concatenate([-x[..., d // 2:], x[..., : d // 2]], axis=-1)
    return x * cos + rotated * sin


def route(cfg, x, gate, bias):
    scores = 1.0 / (1.0 + np.exp(-(x @ gate.T)))
    choice = scores + bias
    n_group, topk_group, n_exp = cfg["n_group"], cfg["topk_group"], gate.shape[0]
    if n_group > 1:
        grouped = choice.reshape(n_group, n_exp // n_group)
        group_scores = np.sort(grouped, axis=-1)[:, -2:].sum(axis=-1)
        keep = np.argsort(-group_scores, kind="stable")[:topk_group]
        mask = np.full(n_group, -np.inf)  # HF fills 0.0: the same unless biased scores are negative
        mask[keep] = 0.0
        choice = (grouped + mask[:, None]).reshape(n_exp)
    chosen = np.argsort(-choice, kind="stable")[: cfg["num_experts_per_tok"]]
    weights = scores[chosen]
    if cfg.get("norm_topk_prob", True):
        weights = weights / (weights.sum() + 1e-20)
    return chosen, weights * cfg.get("routed_scaling_factor", 1.0)


def forward(cfg, w, tokens):
    n = len(tokens)
    heads, eps = cfg["num_attention_heads"], cfg["rms_norm_eps"]
    nope, rope_dim, vd = cfg["qk_nope_head_dim"], cfg["qk_rope_head_dim"], cfg["v_head_dim"]
    lora = cfg["kv_lora_rank"]
    q_head = nope + rope_dim
    inv_freq, rope_mscale = rope_inv_freq_and_mscale(cfg)
    scale = q_head ** -0.5
    rs = cfg.get("rope_scaling")
    if rs and rs.get("mscale_all_dim", 0):
        scale *= yarn_get_mscale(rs["factor"], rs["mscale_all_dim"]) ** 2
    positions = np.arange(n)
    causal = np.triu(np.full((n, n), -np.inf), k=1)
    h = w["model.embed_tokens.weight"][tokens]
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        a = p + "self_attn."
        x = rmsnorm(h, w[p + "input_layernorm.weight"], eps)
        if cfg.get("q_lora_rank"):
            q = rmsnorm(x @ w[a + "q_a_proj.weight"].T, w[a + "q_a_layernorm.weight"], eps) @ w[a + "q_b_proj.weight"].T
        else:
            q = x @ w[a + "q_proj.weight"].T
        q = q.reshape(n, heads, q_head)
        q_pe = apply_rope_interleave(q[..., nope:], positions, inv_freq, rope_mscale)
        ckv = x @ w[a + "kv_a_proj_with_mqa.weight"].T
        c = rmsnorm(ckv[:, :lora], w[a + "kv_a_layernorm.weight"], eps)
        k_pe = apply_rope_interleave(ckv[:, lora:], positions, inv_freq, rope_mscale)
        kv = (c @ w[a + "kv_b_proj.weight"].T).reshape(n, heads, nope + vd)
        out = np.zeros((n, heads, vd))
        for head in range(heads):
            k = np.concatenate([kv[:, head, :nope], k_pe], axis=-1)
            qh = np.concatenate([q[:, head, :nope], q_pe[:, head]], axis=-1)
            scores = qh @ k.T * scale + causal
            scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
            scores /= scores.sum(axis=-1, keepdims=True)
            out[:, head] = scores @ kv[:, head, nope:]
        h = h + out.reshape(n, heads * vd) @ w[a + "o_proj.weight"].T
        x = rmsnorm(h, w[p + "post_attention_layernorm.weight"], eps)
        m = p + "mlp."
        if i < cfg.get("first_k_dense_replace", 0):
            h = h + mlp(x, w[m + "gate_proj.weight"], w[m + "up_proj.weight"], w[m + "down_proj.weight"])
            continue
        bias = w.get(m + "gate.e_score_correction_bias", np.zeros(cfg["n_routed_experts"]))
        moe = np.zeros_like(x)
        for t in range(n):
            chosen, weights = route(cfg, x[t], w[m + "gate.weight"], bias)
            for e, wt in zip(chosen, weights):
                e_p = f"{m}experts.{e}."
                moe[t] += wt * mlp(x[t], w[e_p + "gate_proj.weight"], w[e_p + "up_proj.weight"], w[e_p + "down_proj.weight"])
        if cfg.get("n_shared_experts", 0):
            s = m + "shared_experts."
            moe += mlp(x, w[s + "gate_proj.weight"], w[s + "up_proj.weight"], w[s + "down_proj.weight"])
        h = h + moe
    h = rmsnorm(h, w["model.norm.weight"], eps)
    head = w["model.embed_tokens.weight"] if cfg.get("tie_word_embeddings", False) else w["lm_head.weight"]
    return h @ head.T


if __name__ == "__main__":
    run_reference(forward)
