#pragma once
// The Python side of PythonReference (python_reference.h), written to a
// temporary file and run with the system Python.
namespace strata {
inline constexpr const char* kPythonReferencePy = R"PY(
# Serves FlashInfer-Trace references to the runner: one JSON request per line
# on stdin (a definition's reference, input files, output files), one JSON
# reply per line on the protocol stream. Tensors are raw little-endian files.
import json
import os
import sys
import traceback

protocol = os.fdopen(os.dup(1), "w")
os.dup2(2, 1)  # whatever a reference prints goes to the log, not the protocol


def reply(obj):
    protocol.write(json.dumps(obj) + "\n")
    protocol.flush()


try:
    import numpy
    import torch
except Exception as e:  # noqa: BLE001 - any import failure means "cannot serve"
    reply({"error": "torch does not import: %s" % e})
    sys.exit(0)
torch.set_num_threads(max(1, os.cpu_count() or 1))
reply({"ready": True, "torch": torch.__version__})

# Stored as (numpy dtype, torch dtype name it is viewed as).
STORAGE = {"float32": ("float32", None), "float16": ("float16", None), "bfloat16": ("int16", "bfloat16"),
           "float8_e4m3fn": ("uint8", "float8_e4m3fn"), "float8_e5m2": ("uint8", "float8_e5m2"),
           "int64": ("int64", None), "int32": ("int32", None), "int16": ("int16", None), "int8": ("int8", None),
           "bool": ("bool", None)}


def torch_dtype(name):
    if not hasattr(torch, name):
        raise TypeError("torch %s has no %s" % (torch.__version__, name))
    return getattr(torch, name)


def load(spec):
    if "scalar" in spec:
        return spec["scalar"]
    storage, view = STORAGE[spec["dtype"]]
    t = torch.from_numpy(numpy.fromfile(spec["path"], dtype=storage).reshape(spec["shape"]))
    return t.view(torch_dtype(view)) if view else t


def store(name, value, spec):
    if not isinstance(value, torch.Tensor):
        value = torch.tensor(value)
    want = torch_dtype(spec["dtype"])
    if value.dtype != want:
        raise TypeError("output %s is %s, the definition says %s" % (name, value.dtype, spec["dtype"]))
    if list(value.shape) != spec["shape"]:
        raise ValueError("output %s has shape %s, the definition says %s" % (name, list(value.shape), spec["shape"]))
    storage, view = STORAGE[spec["dtype"]]
    value = value.contiguous()
    if view:
        value = value.view(getattr(torch, storage))
    value.numpy().tofile(spec["path"])


compiled = {}
for line in sys.stdin:
    request = json.loads(line)
    try:
        name = request["name"]
        if name not in compiled:
            scope = {}
            exec(compile(request["reference"], name, "exec"), scope)
            compiled[name] = scope["run"]
        args = [load(s) for s in request["inputs"]]
        result = compiled[name](*args)
        outputs = list(result) if isinstance(result, (tuple, list)) else [result]
        if len(outputs) != len(request["outputs"]):
            raise ValueError("returned %d outputs, the definition has %d" % (len(outputs), len(request["outputs"])))
        for spec, value in zip(request["outputs"], outputs):
            store(spec["name"], value, spec)
        reply({"ok": True})
    except Exception as e:  # noqa: BLE001 - a failing reference is reported, not fatal
        traceback.print_exc()
        reply({"error": "%s: %s" % (type(e).__name__, e)})
)PY";
}  // namespace strata
