"""torchvision's resnet18 for the fromOnnx cross-check: exports it with `torch.onnx.export` (eval
mode, constant folding — each BatchNorm folded into its Conv) at opsets 13 and 17 into
bench/resnet18/, and fine-tunes each exported graph in PyTorch from the exported weights (20 SGD
and 20 Adam steps on fixed synthetic 3×64×64 images, at rates where training is stable), writing the per-step losses for
`onnx_finetune.ts` to compare. Too large (45 MB) to be a test fixture; needs python3-torchvision.

    /usr/bin/python3 bench/crosscheck/resnet18_reference.py
    npx -y deno@2.9.6 run -P bench/crosscheck/onnx_finetune.ts
"""
import json, os, sys

import onnx
import torch
import torchvision

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "fixtures"))
from make_onnx_fixtures import OnnxInTorch, STEPS, export, fine_tune  # noqa: E402

# Without its batch norms (folded into the convolutions) resnet18 is unstable at the fixtures'
# rates; these keep the loss falling steadily.
SGD_LR, ADAM_LR = 0.0005, 1e-4

OUT = os.path.join(HERE, "..", "resnet18")
os.makedirs(OUT, exist_ok=True)
torch.manual_seed(3)
module = torchvision.models.resnet18(num_classes=10).eval()
g = torch.Generator().manual_seed(7)
x = torch.randn([8, 3, 64, 64], generator=g)
y = torch.randint(0, 10, [8], generator=g)
reference = {"steps": STEPS, "sgdLr": SGD_LR, "adamLr": ADAM_LR, "models": {}}
for opset in (13, 17):
    data = export(module, x[:2], opset)
    fname = f"resnet18_opset{opset}.onnx"
    with open(os.path.join(OUT, fname), "wb") as f:
        f.write(data)
    model = onnx.load_from_string(data)
    with torch.no_grad():
        out = OnnxInTorch(model)(x)
        assert torch.allclose(out, module(x), atol=1e-4), opset
    reference["models"][f"resnet18_opset{opset}"] = {
        "file": fname,
        "sampleShape": [3, 64, 64],
        "classes": 10,
        "ops": sorted({n.op_type for n in model.graph.node}),
        "x": x.flatten().tolist(),
        "y": y.tolist(),
        "sgd": fine_tune(data, x, y, lambda p: torch.optim.SGD(p, lr=SGD_LR)),
        "adam": fine_tune(data, x, y, lambda p: torch.optim.Adam(p, lr=ADAM_LR)),
    }
    print(fname, len(data), "bytes", reference["models"][f"resnet18_opset{opset}"]["ops"])
with open(os.path.join(OUT, "reference.json"), "w") as f:
    json.dump(reference, f)
