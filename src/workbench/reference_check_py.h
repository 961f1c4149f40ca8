#pragma once
// The Python side of check_references (dataset.h), written to a temporary
// file and run with the system Python.
namespace strata {
inline constexpr const char* kReferenceCheckPy = R"PY(
# Checks FlashInfer-Trace definitions' Python references: parse, and with
# "run" execute each on generated inputs. Prints one JSON list on the last line.
import ast
import json
import sys

MAX_INPUT_BYTES = 1 << 30
definitions = json.load(open(sys.argv[1]))
run = sys.argv[2] == "run"
try:
    import torch
except Exception as e:  # noqa: BLE001 - any import failure means "cannot run"
    torch = None
    no_torch = "torch does not import: %s" % e

DTYPES = {"float32": 4, "float16": 2, "bfloat16": 2, "float8_e4m3fn": 1, "float8_e5m2": 1, "float4_e2m1": 1,
          "int64": 8, "int32": 4, "int16": 2, "int8": 1, "bool": 1}


def parse(d):
    tree = ast.parse(d["reference"])
    if not any(isinstance(n, ast.FunctionDef) and n.name == "run" for n in tree.body):
        raise ValueError("reference has no top-level def run")
    for c in d.get("constraints", []):
        ast.parse(c, mode="eval")


def axis_values(d):
    """Const axes as declared; var axes small, index tensors consistent with them."""
    axes = {n: a["value"] for n, a in d["axes"].items() if a["type"] == "const"}
    for n, a in d["axes"].items():
        if a["type"] == "var":
            axes[n] = {"batch_size": 2}.get(n, 3)
    index = {}
    inputs = d["inputs"]
    if "kv_indptr" in inputs:
        page_size, batch = axes["page_size"], axes["batch_size"]
        kv_lens = [page_size + 3 + 2 * b for b in range(batch)]
        pages = [(n + page_size - 1) // page_size for n in kv_lens]
        axes["num_kv_indices"] = sum(pages)
        axes["num_pages"] = sum(pages) + 1  # one page no sequence uses
        axes["len_indptr"] = batch + 1
        order = torch.randperm(axes["num_pages"])[: sum(pages)].to(torch.int32)
        index["kv_indices"] = order
        index["kv_indptr"] = torch.tensor([0] + [sum(pages[: b + 1]) for b in range(batch)], dtype=torch.int32)
        index["kv_last_page_len"] = torch.tensor([n - (p - 1) * page_size for n, p in zip(kv_lens, pages)], dtype=torch.int32)
        if "qo_indptr" in inputs:
            q_lens = [min(3 + b, n) for b, n in enumerate(kv_lens)]
            axes["total_q"] = sum(q_lens)
            index["qo_indptr"] = torch.tensor([0] + [sum(q_lens[: b + 1]) for b in range(batch)], dtype=torch.int32)
    if "topk_ids" in inputs:
        rows, k, e = axes["seq_len"], axes["top_k"], axes["num_experts"]
        index["topk_ids"] = torch.stack([torch.randperm(e)[:k] for _ in range(rows)]).to(torch.int32)
    if "positions" in inputs:
        index["positions"] = torch.arange(axes["num_tokens"], dtype=torch.int32) * 7
    return axes, index


def make_input(name, spec, axes, index):
    if name in index:
        return index[name]
    if spec["shape"] is None:
        return 0.125 if spec["dtype"].startswith("float") else 1
    shape = [axes[a] for a in spec["shape"]]
    dtype = getattr(torch, spec["dtype"])
    if spec["dtype"] == "int32" and name.endswith("_packed"):
        return torch.randint(-2**31, 2**31 - 1, shape, dtype=torch.int64).to(torch.int32)
    if spec["dtype"].startswith("int"):
        return torch.randint(0, 8, shape, dtype=dtype)
    if spec["dtype"] == "bool":
        return torch.rand(shape) < 0.5
    scale = 0.01 if name.endswith("scale") else 1.0
    return (torch.randn(shape) * scale).to(dtype)


def check_run(d):
    for spec in list(d["inputs"].values()) + list(d["outputs"].values()):
        if not hasattr(torch, spec["dtype"]):
            return "skipped", "torch %s has no %s" % (torch.__version__, spec["dtype"])
    torch.manual_seed(0)
    axes, index = axis_values(d)
    size = 0
    for name, spec in d["inputs"].items():
        n = DTYPES[spec["dtype"]]
        for a in spec["shape"] or []:
            n *= axes[a]
        size += n
    if size > MAX_INPUT_BYTES:
        return "skipped", "inputs of %.1f GiB are too large to run here" % (size / 2**30)
    args = [make_input(n, s, axes, index) for n, s in d["inputs"].items()]
    scope = {}
    exec(compile(d["reference"], d["name"], "exec"), scope)
    try:
        result = scope["run"](*args)
    except RuntimeError as e:
        if "not implemented for" in str(e):  # e.g. float16 matmul in CPU builds of torch
            return "skipped", "this torch cannot run it on the CPU: %s" % e
        raise
    outputs = list(result) if isinstance(result, (tuple, list)) else [result]
    if len(outputs) != len(d["outputs"]):
        raise ValueError("returned %d outputs, the definition has %d" % (len(outputs), len(d["outputs"])))
    for (name, spec), value in zip(d["outputs"].items(), outputs):
        want = [axes[a] for a in spec["shape"] or []]
        if list(value.shape) != want:
            raise ValueError("output %s has shape %s, expected %s" % (name, list(value.shape), want))
        if value.dtype != getattr(torch, spec["dtype"]):
            raise ValueError("output %s has dtype %s, expected %s" % (name, value.dtype, spec["dtype"]))
        if value.is_floating_point() and not torch.isfinite(value).all():
            raise ValueError("output %s is not finite" % name)
    return "ran", "outputs as declared (axes %s)" % ({k: v for k, v in axes.items() if d["axes"][k]["type"] == "var"},)


results = []
for d in definitions:
    r = {"name": d["name"]}
    try:
        parse(d)
        if not run:
            r["status"] = "parsed"
        elif torch is None:
            r["status"], r["message"] = "skipped", no_torch
        else:
            r["status"], r["message"] = check_run(d)
    except Exception as e:  # noqa: BLE001 - a broken reference is reported, not fatal
        r["status"], r["message"] = "error", "%s: %s" % (type(e).__name__, e)
    results.append(r)
print()
print(json.dumps(results))
)PY";
}  // namespace strata
