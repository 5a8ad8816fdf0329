"""Cross-check with PyTorch, torch side, for the CNN under several optimizers: loads onnxtrain's
initial weights and buffers (ROOT/cnn_init.onnx), runs the same optimizers for STEPS steps on the
same batches, and compares per-step losses (relative), test loss and running statistics.

    /usr/bin/python3 bench/crosscheck/torch_cnn_steps.py ROOT STEPS onnxtrain_cnn.json [DIR]

With DIR (written by `cnn_steps.ts ROOT STEPS DIR`) it also checks every step in lockstep: PyTorch
starts each step from onnxtrain's parameters, buffers and optimizer state, takes one step, and the
loss, the parameter update and the running statistics are compared with onnxtrain's. Free-running
trajectories drift apart as float32 rounding differences are amplified by training; lockstep
isolates each step's arithmetic.
Needs Debian's python3-torch and python3-onnx.
"""
import json, sys, time
import numpy as np, onnx, torch
from onnx import numpy_helper
from torch import nn
sys.path.insert(0, __import__("os").path.dirname(__file__))
from _fmnist import loaders

root, steps, other = sys.argv[1], int(sys.argv[2]), json.load(open(sys.argv[3]))
lockstep = sys.argv[4] if len(sys.argv) > 4 else None
torch.set_num_threads(2)

train, test = loaders(root)
init = {t.name: torch.from_numpy(numpy_helper.to_array(t).copy()) for t in onnx.load(f"{root}/cnn_init.onnx").graph.initializer}

def make_model():
    model = nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(32 * 7 * 7, 10))
    model.load_state_dict(init)  # strict: every name matches, buffers included
    return model

OPTIMIZERS = {
    "sgd_nesterov": lambda p: torch.optim.SGD(p, lr=0.01, momentum=0.9, nesterov=True, weight_decay=1e-4),
    "adam": lambda p: torch.optim.Adam(p, lr=1e-3),
    "adam_amsgrad": lambda p: torch.optim.Adam(p, lr=1e-3, amsgrad=True, weight_decay=1e-4),
    "adamw": lambda p: torch.optim.AdamW(p, lr=1e-3, weight_decay=0.01),
    "rmsprop": lambda p: torch.optim.RMSprop(p, lr=1e-3, momentum=0.9, centered=True),
}
loss_fn = nn.CrossEntropyLoss()
worst = 0.0
for name, make in OPTIMIZERS.items():
    model = make_model()
    optimizer = make(model.parameters())
    losses = []
    model.train()
    start = time.perf_counter()
    for X, y in train:
        if len(losses) == steps:
            break
        loss = loss_fn(model(X), y)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(loss.item())
    ms = (time.perf_counter() - start) / steps * 1000
    model.eval()
    test_loss, correct = 0, 0
    with torch.no_grad():
        for X, y in test:
            pred = model(X)
            test_loss += loss_fn(pred, y).item()
            correct += (pred.argmax(1) == y).type(torch.float).sum().item()
    test_loss /= len(test)
    correct /= len(test.dataset)
    o = other["runs"][name]
    a, b = np.array(losses), np.array(o["losses"])
    rel = np.abs(a - b) / np.abs(a)
    worst = max(worst, rel.max())
    rm = np.abs(model[5].running_mean.numpy() - np.array(o["runningMean"])).max()
    rv = np.abs(model[5].running_var.numpy() - np.array(o["runningVar"])).max()
    print(f"{name:13s} steps {steps}: max rel loss diff {rel.max():.2e} (step {rel.argmax()}), "
          f"last loss torch {losses[-1]:.6f} onnxtrain {o['losses'][-1]:.6f}; "
          f"test loss torch {test_loss:.6f} onnxtrain {o['testLoss']:.6f}; "
          f"accuracy torch {100*correct:.2f}% onnxtrain {100*o['accuracy']:.2f}%; "
          f"running stats max |diff| mean {rm:.1e} var {rv:.1e}; "
          f"ms/step torch {ms:.1f} onnxtrain {o['msPerStep']:.1f}")
print(f"worst relative per-step loss difference: {worst:.2e} (target ≤ 1e-4)")

STATE_KEYS = ("exp_avg", "exp_avg_sq", "max_exp_avg_sq", "square_avg", "grad_avg", "momentum_buffer", "sum")

def lockstep_check(name, make):
    index = json.load(open(f"{lockstep}/{name}.json"))
    sizes = [int(np.prod(t["shape"])) for t in index]
    snaps = np.fromfile(f"{lockstep}/{name}.f32", np.float32).reshape(steps + 1, sum(sizes))
    def unpack(k):
        out, offset = {}, 0
        for t, n in zip(index, sizes):
            out[t["name"]] = torch.from_numpy(snaps[k, offset:offset + n].reshape(t["shape"]).copy())
            offset += n
        return out
    model = make_model()
    params = dict(model.named_parameters())
    opt = make(model.parameters())
    worst = {"loss": 0.0, "update": 0.0, "buffers": 0.0}
    per_tensor = {}
    model.train()
    for k, (X, y) in enumerate(train):
        if k == steps:
            break
        s = unpack(k)
        model.load_state_dict({n: s[n].to(v.dtype) for n, v in model.state_dict().items()})
        opt.state.clear()
        if k > 0:
            for n, p in params.items():
                st = {key: s[f"{n}.{key}"].clone() for key in STATE_KEYS if f"{n}.{key}" in s}
                if f"{n}.step" in s:
                    st["step"] = s[f"{n}.step"].reshape(()).clone()
                elif isinstance(opt, torch.optim.RMSprop):
                    st["step"] = k
                opt.state[p] = st
        loss = loss_fn(model(X), y)
        loss.backward()
        opt.step()
        opt.zero_grad()
        worst["loss"] = max(worst["loss"], abs(loss.item() - other["runs"][name]["losses"][k]) / abs(loss.item()))
        nxt = unpack(k + 1)
        for n, v in model.state_dict().items():
            ours = nxt[n].to(v.dtype)
            if n in params:
                # Error of the update relative to the update's size (L2 norms over the tensor).
                update = (v - s[n]).norm().item()
                err = (v - ours).norm().item() / max(update, 1e-12)
                per_tensor[n] = max(per_tensor.get(n, 0.0), err)
            elif v.dtype.is_floating_point:
                err = ((v - ours).abs() / (v.abs() + 1e-6)).max().item()
                worst["buffers"] = max(worst["buffers"], err)
    # A convolution's bias feeding batch norm has a true gradient of 0 (the mean is subtracted):
    # what remains is float rounding noise, which Adam and RMSprop normalise into full-size steps,
    # so those updates are noise in both frameworks and are reported apart.
    noise = {"0.bias", "4.bias"}
    real = max(v for n, v in per_tensor.items() if n not in noise)
    worst_name = max((n for n in per_tensor if n not in noise), key=per_tensor.get)
    print(f"{name:13s} lockstep {steps} steps: max rel loss diff {worst['loss']:.2e}; "
          f"max rel error of parameter updates {real:.2e} ({worst_name}; "
          f"conv biases before batch norm, gradient 0 up to rounding: "
          f"{max(per_tensor[n] for n in noise):.1e}); "
          f"max rel diff of running statistics {worst['buffers']:.2e}")
    return worst["loss"]

if lockstep:
    worst_lockstep = max(lockstep_check(name, make) for name, make in OPTIMIZERS.items())
    print(f"lockstep: worst relative per-step loss difference {worst_lockstep:.2e} (target ≤ 1e-4)")
