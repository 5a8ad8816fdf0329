"""Seconds per training epoch in PyTorch for the models of bench/epoch.ts (same generated data,
batch 64, same optimizers), to compare with onnxtrain on the same machine.

    /usr/bin/python3 bench/crosscheck/torch_epoch.py ROOT mlp|cnn|resnet [EPOCHS] [THREADS]
"""
import os, sys, time
import numpy as np, torch
from torch import nn
sys.path.insert(0, os.path.dirname(__file__))
from _fmnist import loaders

root, name = sys.argv[1], sys.argv[2]
epochs = int(sys.argv[3]) if len(sys.argv) > 3 else 1
torch.set_num_threads(int(sys.argv[4]) if len(sys.argv) > 4 else 2)
train, _ = loaders(root)

class Block(nn.Module):
    def __init__(self, cin, c, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, c, 3, stride, 1, bias=False); self.bn1 = nn.BatchNorm2d(c)
        self.conv2 = nn.Conv2d(c, c, 3, 1, 1, bias=False); self.bn2 = nn.BatchNorm2d(c)
        self.downsample = None if stride == 1 and cin == c else nn.Sequential(
            nn.Conv2d(cin, c, 1, stride, bias=False), nn.BatchNorm2d(c))
    def forward(self, x):
        h = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(h)) + (x if self.downsample is None else self.downsample(x)))

class ResNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3, 1, 1, bias=False); self.bn1 = nn.BatchNorm2d(16)
        self.layer1 = nn.Sequential(Block(16, 16), Block(16, 16))
        self.layer2 = nn.Sequential(Block(16, 32, 2), Block(32, 32))
        self.avgpool = nn.AdaptiveAvgPool2d(1); self.fc = nn.Linear(32, 10)
    def forward(self, x):
        h = self.layer2(self.layer1(torch.relu(self.bn1(self.conv1(x)))))
        return self.fc(torch.flatten(self.avgpool(h), 1))

if name == "mlp":
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, 10))
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)
elif name == "cnn":
    model = nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Dropout(0.25), nn.Linear(32 * 7 * 7, 10))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
else:
    model = ResNet()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
loss_fn = nn.CrossEntropyLoss()
model.train()
for epoch in range(epochs):
    start = time.perf_counter()
    for X, Y in train:
        loss = loss_fn(model(X), Y)
        loss.backward()
        opt.step()
        opt.zero_grad()
    s = time.perf_counter() - start
    print(f"torch {torch.__version__} {name}: epoch {epoch + 1}: train {s:.2f} s ({s / len(train) * 1000:.2f} ms/step), threads {torch.get_num_threads()}")
