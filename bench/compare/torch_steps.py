"""One PyTorch run of bench/compare/compare.ts: times training steps of a model on synthetic
in-memory batches and prints ONE JSON line. Works under torch 1.13 (Debian's python3-torch,
torchvision 0.14) and 2.13 (the venv, torchvision 0.29).

Models (train mode, the same as onnxtrain's):
- mlp: 784-512-512-10 ReLU, SGD lr 1e-3 (pipelines/fmnist.ts);
- cnn: pipelines/fmnist_cnn.ts's CNN, Adam 1e-3 (as bench/crosscheck/torch_epoch.py);
- resnet: pipelines/fmnist_resnet.ts's small ResNet, Adam 1e-3 (as torch_epoch.py);
- resnet18, mobilenet_v2, efficientnet_b0: torchvision, 10 classes, random weights, SGD lr 0.01
  momentum 0.9, 3x64x64 inputs. onnxtrain trains the dynamo exporter's ONNX file of these, which
  has every BatchNorm folded into the convolution before it and no Dropout; so the model here is
  the same network: BatchNorms folded with torch.fx's `fuse` (every parameter trainable, as the
  folded biases are in onnxtrain), dropout off.

One step: wrap the numpy batch (torch.from_numpy), zero_grad, forward, loss, backward, optimizer
step, read the loss (loss.item(), as onnxtrain returns every loss). Each step is timed on its own;
`--warmup` steps first are not timed. The batches are ~64 MiB of random data (at most 512
batches), cycled. Timing stops once `--seconds` have passed and `--min-steps` were timed, or at
`--max-steps`.

    python bench/compare/torch_steps.py --model mlp [--batch 64] [--warmup 8] [--seconds 4]
        [--min-steps 10] [--max-steps 20000] [--threads 2]
    python bench/compare/torch_steps.py --peak [--threads 2]    # 1024^3 float32 matmul GFLOP/s
    python bench/compare/torch_steps.py --probe                  # versions, BLAS, environment
"""
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _child import child_parser, synthetic_batches  # noqa: E402
import types

SMALL = ("mlp", "cnn", "resnet")
ZOO = ("resnet18", "mobilenet_v2", "efficientnet_b0")


def import_torchvision(torch):
    """torchvision; the venv's +cpu torch lacks its C ops, whose fake registrations fail on
    import, so an empty module stands in for them there."""
    if "+cpu" in torch.__version__ or torch.__version__ >= "2":
        sys.modules.setdefault("torchvision._meta_registrations",
                               types.ModuleType("torchvision._meta_registrations"))
    import torchvision
    return torchvision


def blas_libraries():
    """The BLAS/LAPACK/MKL/oneDNN libraries this process has mapped, resolved to real files."""
    found = set()
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                path = line.split()[-1] if len(line.split()) >= 6 else ""
                name = os.path.basename(path).lower()
                if any(k in name for k in ("blas", "lapack", "mkl", "dnnl", "gomp", "iomp")):
                    found.add(f"{path} -> {os.path.realpath(path)}"
                              if os.path.realpath(path) != path else path)
    except OSError:
        pass
    return sorted(found)


def cpu_seconds():
    """CPU seconds this process has used (all threads)."""
    t = os.times()
    return t.user + t.system


def probe():
    import torch
    info = {"python": sys.executable, "python_version": sys.version.split()[0],
            "torch": torch.__version__}
    config = torch.__config__.show()
    info["blas_line"] = next((ln.strip() for ln in config.splitlines() if "BLAS_INFO" in ln), "")
    parts = [part.strip() for part in info["blas_line"].split(":", 1)[-1].split(",")]
    blas = [p for p in parts if p.startswith(("BLAS_INFO", "LAPACK_INFO", "USE_MKL", "USE_MKLDNN"))]
    info["blas"] = ", ".join(blas)
    info["cpu_capability"] = next((ln.split(":", 1)[1].strip() for ln in config.splitlines()
                                   if "CPU capability" in ln), "")
    info["mkl_available"] = bool(torch.backends.mkl.is_available())
    info["mkldnn_available"] = bool(torch.backends.mkldnn.is_available())
    info["default_threads"] = torch.get_num_threads()
    info["blas_libraries"] = blas_libraries()
    info["env"] = {k: os.environ.get(k) for k in (
        "OPENBLAS_CORETYPE", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
        "MKL_DEBUG_CPU_TYPE", "MKL_ENABLE_INSTRUCTIONS", "DNNL_MAX_CPU_ISA")}
    try:
        info["torchvision"] = import_torchvision(torch).__version__
    except Exception as e:  # noqa: BLE001 - reported, not fatal: the small models need none
        info["torchvision_error"] = f"{type(e).__name__}: {e}"[:300]
    return info


def peak(torch, n=1024, repeats=10):
    """GFLOP/s of an [n, n] x [n, n] float32 matmul: best of `repeats` after two warm-ups."""
    a = torch.rand(n, n) - 0.5
    best = float("inf")
    for r in range(repeats + 2):
        t = time.perf_counter()
        torch.matmul(a, a)
        if r >= 2:
            best = min(best, time.perf_counter() - t)
    return 2 * n ** 3 / best / 1e9


def build(torch, name, side=64):
    """The model (train mode), its optimizer, and one sample's shape."""
    from torch import nn

    class Block(nn.Module):
        def __init__(self, cin, c, stride=1):
            super().__init__()
            self.conv1 = nn.Conv2d(cin, c, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(c)
            self.conv2 = nn.Conv2d(c, c, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(c)
            self.downsample = None if stride == 1 and cin == c else nn.Sequential(
                nn.Conv2d(cin, c, 1, stride, bias=False), nn.BatchNorm2d(c))

        def forward(self, x):
            h = torch.relu(self.bn1(self.conv1(x)))
            shortcut = x if self.downsample is None else self.downsample(x)
            return torch.relu(self.bn2(self.conv2(h)) + shortcut)

    class ResNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(1, 16, 3, 1, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(16)
            self.layer1 = nn.Sequential(Block(16, 16), Block(16, 16))
            self.layer2 = nn.Sequential(Block(16, 32, 2), Block(32, 32))
            self.avgpool = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(32, 10)

        def forward(self, x):
            h = self.layer2(self.layer1(torch.relu(self.bn1(self.conv1(x)))))
            return self.fc(torch.flatten(self.avgpool(h), 1))

    if name == "mlp":
        model = nn.Sequential(nn.Flatten(), nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512),
                              nn.ReLU(), nn.Linear(512, 10))
        return model, torch.optim.SGD(model.parameters(), lr=1e-3), [1, 28, 28]
    if name == "cnn":
        model = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Dropout(0.25), nn.Linear(32 * 7 * 7, 10))
        return model, torch.optim.Adam(model.parameters(), lr=1e-3), [1, 28, 28]
    if name == "resnet":
        model = ResNet()
        return model, torch.optim.Adam(model.parameters(), lr=1e-3), [1, 28, 28]
    tv = import_torchvision(torch)
    model = getattr(tv.models, name)(num_classes=10)
    from torch.fx.experimental.optimization import fuse
    model.eval()
    model = fuse(model)  # every Conv+BatchNorm pair becomes one Conv with a bias
    for p in model.parameters():
        p.requires_grad_(True)  # torch 2's folded biases come out frozen
    model.train()
    for m in model.modules():
        if isinstance(m, nn.Dropout):
            m.eval()
    return model, torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9), [3, side, side]


def main():
    ap = child_parser(__doc__.split("\n\n")[0], SMALL + ZOO)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    if args.probe:
        print(json.dumps(probe()))
        return
    import numpy as np
    import torch
    torch.set_num_threads(args.threads)
    tag = {"framework": "torch", "torch": torch.__version__, "threads": torch.get_num_threads()}
    if args.peak:
        print(json.dumps({**tag, "peak_gflops": round(peak(torch), 1)}))
        return

    torch.manual_seed(0)
    model, opt, sample = build(torch, args.model, args.image_size)
    model.train()
    loss_fn = torch.nn.CrossEntropyLoss()
    xs, ys, count = synthetic_batches(np, args.batch, sample, np.int64)

    times, losses = [], []
    start = last = time.perf_counter()
    timed_start = start if args.warmup == 0 else None
    for i in range(args.warmup + args.max_steps):
        x, y = torch.from_numpy(xs[i % count]), torch.from_numpy(ys[i % count])
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
        now = time.perf_counter()
        if i >= args.warmup:
            times.append((now - last) * 1000)
            if len(times) >= args.min_steps and now - timed_start >= args.seconds:
                break
        elif i == args.warmup - 1:
            timed_start = now
        last = now
    params = sum(p.numel() for p in model.parameters() if p.requires_grad)
    print(json.dumps({
        **tag, "model": args.model, "batch": args.batch,
        "median_ms": round(statistics.median(times), 4),
        "mean_ms": round(statistics.fmean(times), 4),
        "timed_steps": len(times), "warmup_steps": args.warmup, "distinct_batches": count,
        "samples_ms": [round(t, 3) for t in times], "params": params,
        "wall_s": round(time.perf_counter() - start, 2), "cpu_s": round(cpu_seconds(), 3),
        "first_loss": round(losses[0], 4), "last_loss": round(losses[-1], 4),
    }))


if __name__ == "__main__":
    main()
