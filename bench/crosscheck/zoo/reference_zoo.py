"""PyTorch's reference for fine-tuning each exported zoo model (bench/zoo/manifest.json): the
exported graph itself run by OnnxInTorch (every float initializer a parameter except, as
fromOnnx's defaults, BatchNorm statistics and exporter constants such as Clip bounds, attention
scales and masks; shared initializers untied as `fromOnnx(..., {shared: "untie"})`), K=3 steps
of SGD (lr 0.01) and of Adam (lr 1e-3) on a fixed random batch, the losses and the time per step
(2 threads). Also checks OnnxInTorch's output against onnxruntime's on the same batch (≤ 1e-4).
Writes bench/zoo/<model>_<exporter>.reference.json.

    /work/venv/bin/python bench/crosscheck/zoo/reference_zoo.py [--only NAME[,NAME]]
"""
import argparse
import json
import math
import os
import sys
import time
import traceback

import numpy as np
import onnx
import onnxruntime as ort
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.normpath(os.path.join(HERE, "..", "..", "zoo"))
sys.path.insert(0, HERE)
from models import CLASSES, MODELS, VOCAB  # noqa: E402
from onnx_in_torch import OnnxInTorch  # noqa: E402

K = 3
SGD_LR, ADAM_LR = 0.01, 1e-3


def batch_for(rec, seed):
    g = torch.Generator().manual_seed(seed)
    n = 4 if rec["inputDtype"] == "int64" else 3
    shape = rec["sampleShape"]
    if rec["kind"] == "lm":
        ids = torch.randint(0, VOCAB, [n, shape[0] + 1], generator=g)
        return ids[:, :-1].contiguous(), ids[:, 1:].contiguous()
    if rec["inputDtype"] == "int64":
        x = torch.randint(0, VOCAB, [n] + shape, generator=g)
    else:
        x = torch.randn([n] + shape, generator=g)
    return x, torch.randint(0, CLASSES, [n], generator=g)


def loss_of(out, y):
    if out.dim() == 3:  # [N, T, C] with [N, T] targets
        return F.cross_entropy(out.reshape(-1, out.shape[-1]), y.reshape(-1))
    return F.cross_entropy(out, y)


def train(model, x, y, make_opt):
    net = OnnxInTorch(model)
    opt = make_opt(net.parameters())
    losses, ms = [], []
    for _ in range(K):
        start = time.perf_counter()
        opt.zero_grad()
        loss = loss_of(net(x), y)
        loss.backward()
        opt.step()
        ms.append((time.perf_counter() - start) * 1000)
        losses.append(loss.item())
    return {"losses": losses, "ms": ms}


def reference(rec, seed):
    path = os.path.join(OUT, rec["file"])
    model = onnx.load(path)  # loads <file>.data too
    if os.path.exists(path + ".data"):
        # The same model in one file, for zoo.ts to retry with when external data is refused.
        onnx.save(model, path.replace(".onnx", ".inline.onnx"))
    x, y = batch_for(rec, seed)
    out = {"model": rec["model"], "exporter": rec["exporter"], "file": rec["file"], "steps": K,
           "sgdLr": SGD_LR, "adamLr": ADAM_LR, "sampleShape": rec["sampleShape"],
           "inputDtype": rec["inputDtype"], "kind": rec["kind"],
           "classes": VOCAB if rec["kind"] == "lm" else CLASSES,
           "x": x.flatten().tolist(), "y": y.flatten().tolist(), "size": x.shape[0],
           "targetShape": list(y.shape[1:])}
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    ort_out = sess.run(None, {sess.get_inputs()[0].name: x.numpy()})[0]
    net = OnnxInTorch(model)
    out["params"] = len(net.names)
    out["paramValues"] = sum(p.numel() for p in net.parameters())
    out["paramNames"] = list(net.names)
    with torch.no_grad():
        mine = net(x).numpy()
    diff = float(np.max(np.abs(mine - ort_out))) if mine.shape == ort_out.shape else float("inf")
    out["ortMaxAbsDiff"] = diff
    out["ortMaxAbs"] = float(np.max(np.abs(ort_out)))
    out["ortMatch"] = diff <= 1e-4
    out["outputShape"] = list(ort_out.shape)
    for label, lr, make in (("sgd", SGD_LR, torch.optim.SGD), ("adam", ADAM_LR, torch.optim.Adam)):
        # A rate at which the 3 losses stay finite and within [0.1×, 2×] the first: diverging or
        # collapsing trajectories amplify rounding differences (a relative difference of a loss
        # near 0 is noise) and say nothing about the step arithmetic. The rate used is recorded.
        for _ in range(5):
            run = train(model, x, y, lambda p: make(p, lr=lr))
            ls = run["losses"]
            if all(math.isfinite(v) for v in ls) and 0.1 * ls[0] <= min(ls) and max(ls) <= 2 * ls[0]:
                break
            lr /= 10
        out[label], out[f"{label}Lr"] = run, lr
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--only")
    args = p.parse_args()
    torch.set_num_threads(2)
    manifest = json.load(open(os.path.join(OUT, "manifest.json")))
    only = set(args.only.split(",")) if args.only else None
    for i, rec in enumerate(manifest):
        if only and rec["model"] not in only and f"{rec['model']}_{rec['exporter']}" not in only:
            continue
        if "error" in rec:
            continue
        name = f"{rec['model']}_{rec['exporter']}"
        start = time.perf_counter()
        try:
            seed = 100 + list(MODELS).index(rec["model"])
            out = reference(rec, seed)
            status = (f"ort diff {out['ortMaxAbsDiff']:.1e}, sgd {out['sgd']['losses']}, "
                      f"adam {out['adam']['losses']}, {np.median(out['sgd']['ms']):.0f} ms/step")
        except Exception as e:  # noqa: BLE001 - record and keep going
            out = {"model": rec["model"], "exporter": rec["exporter"],
                   "error": f"{type(e).__name__}: {e}"[:500],
                   "trace": traceback.format_exc()[-2000:]}
            status = "ERROR " + out["error"]
        with open(os.path.join(OUT, f"{name}.reference.json"), "w") as f:
            json.dump(out, f)
        print(f"{name}: {status} ({time.perf_counter() - start:.1f} s)", flush=True)


if __name__ == "__main__":
    main()
