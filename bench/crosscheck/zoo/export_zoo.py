"""Exports the zoo (models.py) with both of PyTorch's ONNX exporters, random weights, a dynamic
batch axis, in eval mode, into bench/zoo/, and writes bench/zoo/manifest.json.

- dynamo: the venv's torch 2.13 `torch.onnx.export(..., dynamo=True, dynamic_shapes=...)`, its
  default opset (may write external data `<file>.data`);
- legacy: the TorchScript exporter at opset 17 with constant folding: Debian's torch 1.13
  (`/usr/bin/python3`) for the torchvision models when it imports there, else the venv's torch
  2.13 with `dynamo=False`. The record says which.

Each export runs in its own process, one at a time, killed after 5 minutes.

    /work/venv/bin/python bench/crosscheck/zoo/export_zoo.py [--only NAME[,NAME]] [--exporter E]
"""
import argparse
import collections
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.normpath(os.path.join(HERE, "..", "..", "zoo"))
VENV = "/work/venv/bin/python"
DEBIAN = "/usr/bin/python3"
TIMEOUT = 300
EXAMPLE_BATCH = 2


def child(name, exporter, path):
    """Builds and exports one model in this process; prints a JSON record on the last line."""
    sys.path.insert(0, HERE)
    import torch
    from models import MODELS

    torch.manual_seed(0)
    module, sample_shape, dtype, kind = MODELS[name]()
    perturb(torch, module)
    module.eval()
    g = torch.Generator().manual_seed(1)
    if dtype == "int64":
        from models import VOCAB
        x = torch.randint(0, VOCAB, [EXAMPLE_BATCH] + sample_shape, generator=g)
    else:
        x = torch.randn([EXAMPLE_BATCH] + sample_shape, generator=g)
    rec = {"torch": torch.__version__, "python": sys.executable, "perturbed": True, "sampleShape": sample_shape,
           "inputDtype": dtype, "kind": kind}
    start = time.perf_counter()
    if exporter == "legacy":
        kw = {"dynamo": False} if torch.__version__ >= "2" else {}
        torch.onnx.export(module, (x,), path, opset_version=17, do_constant_folding=True,
                          input_names=["input"], output_names=["output"],
                          dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}}, **kw)
    else:
        batch = torch.export.Dim("batch")
        torch.onnx.export(module, (x,), path, dynamo=True, dynamic_shapes=({0: batch},),
                          input_names=["input"], output_names=["output"])
    rec["exportSeconds"] = time.perf_counter() - start
    print(json.dumps(rec))


def perturb(torch, module):
    """Makes the random model look trained: every parameter gets noise (10% of its spread, or
    0.02 where it is constant, as zero biases and unit norm scales are), and batch norms get
    non-trivial running statistics. Default inits leave zero biases that the dynamo exporter's
    optimizer drops and identity batch norms, which would hide what fine-tuning must handle."""
    g = torch.Generator().manual_seed(123)
    with torch.no_grad():
        for p in module.parameters():
            spread = p.std().item() if p.numel() > 1 else 0.0
            scale = 0.1 * spread if spread > 1e-6 else 0.02
            p.add_(torch.randn(p.shape, generator=g) * scale)
        for m in module.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm) and m.running_var is not None:
                m.running_mean.add_(torch.randn(m.running_mean.shape, generator=g) * 0.1)
                m.running_var.mul_(0.75 + 0.5 * torch.rand(m.running_var.shape, generator=g))


def debian_torch_ok():
    try:
        r = subprocess.run([DEBIAN, "-c", "import torch, torchvision; print(torch.__version__)"],
                           capture_output=True, text=True, timeout=120)
        return r.returncode == 0
    except Exception:
        return False


def count_ops(model):
    """Op counts by type over the graph, local functions expanded (recursively), subgraphs too."""
    import onnx

    funcs = {(f.domain, f.name): f for f in model.functions}
    counts = collections.Counter()

    def walk(nodes):
        for n in nodes:
            f = funcs.get((n.domain, n.op_type))
            if f is not None:
                walk(f.node)
                continue
            key = n.op_type if n.domain in ("", "ai.onnx") else f"{n.domain}::{n.op_type}"
            counts[key] += 1
            for a in n.attribute:
                if a.type == onnx.AttributeProto.GRAPH:
                    walk(a.g.node)
                elif a.type == onnx.AttributeProto.GRAPHS:
                    for sub in a.graphs:
                        walk(sub.node)

    walk(model.graph.node)
    return dict(sorted(counts.items()))


def describe(path):
    import onnx

    model = onnx.load(path, load_external_data=False)
    external = any(i.data_location == onnx.TensorProto.EXTERNAL for i in model.graph.initializer)
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None)

    def io(v):
        t = v.type.tensor_type
        shape = [d.dim_param if d.HasField("dim_param") else
                 (d.dim_value if d.HasField("dim_value") else None) for d in t.shape.dim]
        return {"name": v.name, "shape": shape,
                "dtype": onnx.helper.tensor_dtype_to_np_dtype(t.elem_type).name}

    return {
        "opset": opset,
        "opsets": {o.domain or "ai.onnx": o.version for o in model.opset_import},
        "irVersion": model.ir_version,
        "inputs": [io(v) for v in model.graph.input],
        "outputs": [io(v) for v in model.graph.output],
        "ops": count_ops(model),
        "nodes": len(model.graph.node),
        "localFunctions": len(model.functions),
        "externalData": external,
        "bytes": os.path.getsize(path) + (os.path.getsize(path + ".data")
                                          if os.path.exists(path + ".data") else 0),
    }


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--only")
    p.add_argument("--exporter", choices=["dynamo", "legacy"])
    p.add_argument("--child", nargs=3)
    p.add_argument("--image-size", type=int, default=64,
                   help="image side of the image models (64); other than 64, the files go to "
                        "bench/zoo<side>/ (bench/zoo224/, say)")
    args = p.parse_args()
    if args.child:
        child(*args.child)
        return
    out = OUT if args.image_size == 64 else f"{OUT}{args.image_size}"
    os.environ["ZOO_IMAGE_SIZE"] = str(args.image_size)  # the children build their models at it
    sys.path.insert(0, HERE)
    from models import MODELS, TORCHVISION

    os.makedirs(out, exist_ok=True)
    manifest_path = os.path.join(out, "manifest.json")
    manifest = json.load(open(manifest_path)) if os.path.exists(manifest_path) else []
    debian = debian_torch_ok()
    print("Debian torch 1.13 for legacy torchvision exports:", debian, flush=True)
    names = args.only.split(",") if args.only else list(MODELS)
    exporters = [args.exporter] if args.exporter else ["dynamo", "legacy"]
    for name in names:
        for exporter in exporters:
            fname = f"{name}_{exporter}.onnx"
            path = os.path.join(out, fname)
            for stale in (path, path + ".data"):
                if os.path.exists(stale):
                    os.remove(stale)
            python = DEBIAN if exporter == "legacy" and debian and name in TORCHVISION else VENV
            rec = {"model": name, "exporter": exporter, "file": fname}
            start = time.perf_counter()
            try:
                r = subprocess.run([python, os.path.abspath(__file__), "--child", name, exporter,
                                    path], capture_output=True, text=True, timeout=TIMEOUT)
                if r.returncode != 0:
                    lines = [ln for ln in r.stderr.strip().splitlines() if ln.strip()]
                    err = next((ln for ln in reversed(lines) if "Error" in ln or "error" in ln),
                               lines[-1] if lines else f"exit {r.returncode}")
                    rec["error"] = err.strip()[:500]
                    rec["stderrTail"] = "\n".join(lines[-15:])[-3000:]
                else:
                    rec.update(json.loads(r.stdout.strip().splitlines()[-1]))
                    rec.update(describe(path))
            except subprocess.TimeoutExpired:
                rec["error"] = f"export timed out after {TIMEOUT} s (skipped)"
            except Exception as e:  # noqa: BLE001 - record and keep going
                rec["error"] = f"{type(e).__name__}: {e}"[:500]
            rec.setdefault("python", python)
            rec["wallSeconds"] = time.perf_counter() - start
            manifest = [m for m in manifest
                        if not (m["model"] == name and m["exporter"] == exporter)] + [rec]
            manifest.sort(key=lambda m: (list(MODELS).index(m["model"])
                                         if m["model"] in MODELS else 999, m["exporter"]))
            with open(manifest_path, "w") as f:
                json.dump(manifest, f, indent=1)
            status = rec.get("error") or (f"opset {rec['opset']}, {rec['nodes']} nodes, "
                                          f"{rec['exportSeconds']:.1f} s, torch {rec['torch']}")
            print(f"{name} {exporter}: {status}", flush=True)


if __name__ == "__main__":
    main()
