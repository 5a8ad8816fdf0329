"""Lockstep cross-check of fromOnnx fine-tuning on resnet18: for every step k, PyTorch starts from
onnxtrain's parameters and optimizer state at step k (written by `onnx_finetune.ts DIR LOCKDIR`),
takes the same step on the same batch, and compares the loss and the parameter update with
onnxtrain's. Isolates each step's arithmetic from the drift of free-running trajectories.

    /usr/bin/python3 bench/crosscheck/resnet18_lockstep.py bench/resnet18 LOCKDIR
"""
import json, os, struct, sys

import numpy as np
import onnx
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "fixtures"))
from make_onnx_fixtures import OnnxInTorch  # noqa: E402

root, lock = sys.argv[1], sys.argv[2]
ref = json.load(open(f"{root}/reference.json"))
r = ref["models"]["resnet18_opset17"]
model = onnx.load(f"{root}/{r['file']}")
x = torch.tensor(r["x"], dtype=torch.float32).reshape([len(r["y"])] + r["sampleShape"])
y = torch.tensor(r["y"])


def read(path):
    data = open(path, "rb").read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        b, e = t["data_offsets"]
        out[name] = torch.from_numpy(np.frombuffer(data[8 + n + b:8 + n + e], np.float32)
                                     .reshape(t["shape"]).copy())
    return out


for label, make in (("sgd", lambda p: torch.optim.SGD(p, lr=ref["sgdLr"])),
                    ("adam", lambda p: torch.optim.Adam(p, lr=ref["adamLr"]))):
    ours = json.load(open(f"{lock}/{label}_losses.json"))
    net = OnnxInTorch(model)
    params = {name: net.params[key] for name, key in net.names.items()}
    opt = make(net.parameters())
    worst_loss, worst_update, worst_name = 0.0, 0.0, ""
    for k in range(len(ours)):
        s = read(f"{lock}/{label}_{k}.safetensors")
        with torch.no_grad():
            for name, p in params.items():
                p.copy_(s[name])
        opt.state.clear()
        if label == "adam" and k > 0:
            for name, p in params.items():
                opt.state[p] = {"step": s[f"{name}.step"].reshape(()).clone(),
                                "exp_avg": s[f"{name}.exp_avg"].clone(),
                                "exp_avg_sq": s[f"{name}.exp_avg_sq"].clone()}
        opt.zero_grad()
        loss = F.cross_entropy(net(x), y)
        loss.backward()
        opt.step()
        worst_loss = max(worst_loss, abs(loss.item() - ours[k]) / abs(loss.item()))
        nxt = read(f"{lock}/{label}_{k + 1}.safetensors")
        for name, p in params.items():
            update = (p.detach() - s[name]).norm().item()
            err = (p.detach() - nxt[name]).norm().item() / max(update, 1e-12)
            if err > worst_update:
                worst_update, worst_name = err, f"{name} at step {k}, update norm {update:.1e}"
    print(f"resnet18_opset17 {label} lockstep {len(ours)} steps: max relative loss difference "
          f"{worst_loss:.2e} (target ≤ 1e-4); max relative error of parameter updates (L2) "
          f"{worst_update:.2e} ({worst_name})")
