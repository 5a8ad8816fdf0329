"""FashionMNIST IDX files as PyTorch tensors with ToTensor's scaling, for the cross-check scripts."""
import struct
import numpy as np, torch

def idx(root, name):
    data = open(f"{root}/FashionMNIST/raw/{name}", "rb").read()
    ndim = data[3]
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(dims)

def split(root, images, labels):
    x = torch.from_numpy(idx(root, images).copy()).float().div(255).unsqueeze(1)  # ToTensor
    y = torch.from_numpy(idx(root, labels).astype(np.int64))
    return torch.utils.data.TensorDataset(x, y)

def loaders(root, batch_size=64):
    """The tutorial's unshuffled train and test loaders."""
    train = split(root, "train-images-idx3-ubyte", "train-labels-idx1-ubyte")
    test = split(root, "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
    return (torch.utils.data.DataLoader(train, batch_size=batch_size),
            torch.utils.data.DataLoader(test, batch_size=batch_size))
