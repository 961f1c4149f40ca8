#!/usr/bin/python3
"""Independent float64 numpy forward pass of Qwen3-MoE / Qwen3 (the Hugging
Face modelling code's maths), reading a model folder's config.json and
model.safetensors. Used by tests/test_model.cpp as the reference.

usage: qwen3_moe_ref.py MODEL_DIR TOKENS OUT
  TOKENS  comma-separated token ids of one sequence (positions 0..n-1)
  OUT     file receiving the logits of every position, float32 [n, vocab]
"""
import json
import struct
import sys

import numpy as np


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (header_len,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + header_len])
    base = 8 + header_len
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        raw = data[base + begin: base + end]
        dtype = info["dtype"]
        if dtype == "F32":
            t = np.frombuffer(raw, dtype="<f4")
        elif dtype == "F16":
            t = np.frombuffer(raw, dtype="<f2")
        elif dtype == "BF16":
            t = (np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16).view(np.float32)
        else:
            raise ValueError(f"{name}: unsupported dtype {dtype}")
        tensors[name] = t.astype(np.float64).reshape(info["shape"])
    return tensors


def rmsnorm(x, w, eps):
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * w


def rope(x, positions, theta):
    # x: [n, heads, d]; NeoX halves.
    d = x.shape[-1]
    inv_freq = 1.0 / (theta ** (np.arange(0, d, 2, dtype=np.float64) / d))
    angles = positions[:, None].astype(np.float64) * inv_freq[None, :]
    cos = np.cos(angles)[:, None, :]
    sin = np.sin(angles)[:, None, :]
    a, b = x[..., : d // 2], x[..., d // 2:]
    return np.concatenate([a * cos - b * sin, a * sin + b * cos], axis=-1)


def silu(x):
    return x / (1.0 + np.exp(-x))


def mlp(x, gate, up, down):
    return (silu(x @ gate.T) * (x @ up.T)) @ down.T


def is_moe_layer(cfg, layer):
    if cfg["model_type"] != "qwen3_moe" or cfg["num_experts"] <= 0:
        return False
    if layer in cfg.get("mlp_only_layers", []):
        return False
    return (layer + 1) % cfg.get("decoder_sparse_step", 1) == 0


def forward(cfg, w, tokens):
    n = len(tokens)
    heads, kv_heads = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    hd = cfg.get("head_dim") or cfg["hidden_size"] // heads
    eps, theta = cfg["rms_norm_eps"], cfg["rope_theta"]
    positions = np.arange(n)
    h = w["model.embed_tokens.weight"][tokens]
    causal = np.triu(np.full((n, n), -np.inf), k=1)
    for i in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{i}."
        x = rmsnorm(h, w[p + "input_layernorm.weight"], eps)
        q = (x @ w[p + "self_attn.q_proj.weight"].T).reshape(n, heads, hd)
        k = (x @ w[p + "self_attn.k_proj.weight"].T).reshape(n, kv_heads, hd)
        v = (x @ w[p + "self_attn.v_proj.weight"].T).reshape(n, kv_heads, hd)
        q = rope(rmsnorm(q, w[p + "self_attn.q_norm.weight"], eps), positions, theta)
        k = rope(rmsnorm(k, w[p + "self_attn.k_norm.weight"], eps), positions, theta)
        group = heads // kv_heads
        out = np.zeros((n, heads, hd))
        for head in range(heads):
            scores = q[:, head] @ k[:, head // group].T / np.sqrt(hd) + causal
            scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
            scores /= scores.sum(axis=-1, keepdims=True)
            out[:, head] = scores @ v[:, head // group]
        h = h + out.reshape(n, heads * hd) @ w[p + "self_attn.o_proj.weight"].T
        x = rmsnorm(h, w[p + "post_attention_layernorm.weight"], eps)
        if is_moe_layer(cfg, i):
            logits = x @ w[p + "mlp.gate.weight"].T
            probs = np.exp(logits - logits.max(axis=-1, keepdims=True))
            probs /= probs.sum(axis=-1, keepdims=True)
            top_k = cfg["num_experts_per_tok"]
            moe = np.zeros_like(x)
            for t in range(n):
                chosen = np.argsort(-probs[t], kind="stable")[:top_k]
                weights = probs[t, chosen]
                if cfg.get("norm_topk_prob", False):
                    weights = weights / weights.sum()
                for e, wt in zip(chosen, weights):
                    e_p = f"{p}mlp.experts.{e}."
                    moe[t] += wt * mlp(x[t], w[e_p + "gate_proj.weight"], w[e_p + "up_proj.weight"],
                                       w[e_p + "down_proj.weight"])
            h = h + moe
        else:
            h = h + mlp(x, w[p + "mlp.gate_proj.weight"], w[p + "mlp.up_proj.weight"], w[p + "mlp.down_proj.weight"])
    h = rmsnorm(h, w["model.norm.weight"], eps)
    head = w["model.embed_tokens.weight"] if cfg.get("tie_word_embeddings", False) else w["lm_head.weight"]
    return h @ head.T


def run_reference(forward_pass):
    """The command line shared by the references: MODEL_DIR TOKENS OUT."""
    model_dir, tokens, out = sys.argv[1], sys.argv[2], sys.argv[3]
    with open(f"{model_dir}/config.json") as f:
        cfg = json.load(f)
    weights = read_safetensors(f"{model_dir}/model.safetensors")
    logits = forward_pass(cfg, weights, [int(t) for t in tokens.split(",")])
    logits.astype("<f4").tofile(out)


if __name__ == "__main__":
    run_reference(forward)
