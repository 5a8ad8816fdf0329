"""Cross-check with PyTorch, torch side: the tutorial's model, loss, SGD and loops, started from
onnxtrain's initial weights (ROOT/init.onnx), for STEPS steps; compares with onnxtrain's JSON.

    python3 bench/crosscheck/torch_steps.py ROOT STEPS onnxtrain.json
Needs Debian's python3-torch and python3-onnx.
"""
import gzip, json, struct, sys
import numpy as np, onnx, torch
from onnx import numpy_helper
from torch import nn

root, steps, other = sys.argv[1], int(sys.argv[2]), json.load(open(sys.argv[3]))
raw = f"{root}/FashionMNIST/raw"

def idx(name):
    data = open(f"{raw}/{name}", "rb").read()
    ndim = data[3]
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(dims)

def split(images, labels):
    x = torch.from_numpy(idx(images).copy()).float().div(255).unsqueeze(1)  # ToTensor
    y = torch.from_numpy(idx(labels).astype(np.int64))
    return torch.utils.data.TensorDataset(x, y)

train = torch.utils.data.DataLoader(split("train-images-idx3-ubyte", "train-labels-idx1-ubyte"), batch_size=64)
test = torch.utils.data.DataLoader(split("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"), batch_size=64)

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
