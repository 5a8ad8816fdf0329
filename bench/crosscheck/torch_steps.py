"""Cross-check with PyTorch, torch side: the tutorial's model, loss, SGD and loops, started from
onnxtrain's initial weights (ROOT/init.onnx), for STEPS steps; compares with onnxtrain's JSON.

    python3 bench/crosscheck/torch_steps.py ROOT STEPS onnxtrain.json
Needs Debian's python3-torch and python3-onnx.
"""
import json, sys
import numpy as np, onnx, torch
from onnx import numpy_helper
from torch import nn
sys.path.insert(0, __import__("os").path.dirname(__file__))
from _fmnist import loaders

root, steps, other = sys.argv[1], int(sys.argv[2]), json.load(open(sys.argv[3]))

train, test = loaders(root)

model = nn.Sequential(nn.Flatten(), nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, 10))
init = {t.name: torch.from_numpy(numpy_helper.to_array(t).copy()) for t in onnx.load(f"{root}/init.onnx").graph.initializer}
model.load_state_dict(init)
loss_fn = nn.CrossEntropyLoss()
optimizer = torch.optim.SGD(model.parameters(), lr=1e-3)
torch.set_num_threads(2)

losses = []
model.train()
for X, y in train:
    if len(losses) == steps:
        break
    loss = loss_fn(model(X), y)
    loss.backward()
    optimizer.step()
    optimizer.zero_grad()
    losses.append(loss.item())

model.eval()
test_loss, correct = 0, 0
with torch.no_grad():
    for X, y in test:
        pred = model(X)
        test_loss += loss_fn(pred, y).item()
        correct += (pred.argmax(1) == y).type(torch.float).sum().item()
test_loss /= len(test)
correct /= len(test.dataset)

diff = np.abs(np.array(losses) - np.array(other["losses"]))
print(f"steps {steps}: max |loss diff| {diff.max():.3e}, at step {diff.argmax()}, last loss torch {losses[-1]:.6f} onnxtrain {other['losses'][-1]:.6f}")
print(f"test loss torch {test_loss:.6f} onnxtrain {other['testLoss']:.6f}; accuracy torch {100*correct:.2f}% onnxtrain {100*other['accuracy']:.2f}%")
