#!/usr/bin/python3
"""torch_eval.py FILE.safetensors IDX_DIR LIMIT — loads fedgrid's exported
cnn-small weights into the PyTorch module docs/models.md gives, normalises
Fashion-MNIST's first LIMIT test images with the file's own metadata, and
prints "accuracy A (N images)". Reads safetensors with json + struct +
torch.frombuffer (Debian has no python3-safetensors)."""
import gzip, json, os, struct, sys

import torch
import torch.nn as nn


class CnnSmall(nn.Module):
    def __init__(self, classes=10, channels=1, side=28):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(channels, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
                                      nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2))
        f = ((side - 2) // 2 - 2) // 2
        self.classifier = nn.Sequential(nn.Linear(64 * f * f, 128), nn.ReLU(),
                                        nn.Linear(128, classes))

    def forward(self, x):
        return self.classifier(torch.flatten(self.features(x), 1))


def load_safetensors(path):
    data = open(path, "rb").read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    meta = header.pop("__metadata__", {})
    body = data[8 + n:]
    tensors = {}
    for name, e in header.items():
        assert e["dtype"] == "F32", name
        begin, end = e["data_offsets"]
        t = torch.frombuffer(bytearray(body[begin:end]), dtype=torch.float32)
        tensors[name] = t.reshape(e["shape"])
    return meta, tensors


def read_idx(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        raw = f.read()
    dims = raw[3]
    shape = struct.unpack(">" + "I" * dims, raw[4:4 + 4 * dims])
    return torch.frombuffer(bytearray(raw[4 + 4 * dims:]), dtype=torch.uint8).reshape(shape)


def idx_file(folder, name):
    for candidate in (name + ".gz", name):
        if os.path.exists(os.path.join(folder, candidate)):
            return os.path.join(folder, candidate)
    sys.exit("no %s in %s" % (name, folder))


def main():
    path, folder, limit = sys.argv[1], sys.argv[2], int(sys.argv[3])
    meta, tensors = load_safetensors(path)
    assert meta["model"] == "cnn-small" and meta["layout"] == "NCHW", meta
    classes, c = int(meta["classes"]), int(meta["input_channels"])
    h = int(meta["input_height"])
    model = CnnSmall(classes, c, h)
    model.load_state_dict(tensors, strict=True)
    model.eval()
    mean = torch.tensor([float(v) for v in meta["mean"].split(",")]).reshape(1, c, 1, 1)
    std = torch.tensor([float(v) for v in meta["std"].split(",")]).reshape(1, c, 1, 1)
    images = read_idx(idx_file(folder, "t10k-images-idx3-ubyte"))[:limit]
    labels = read_idx(idx_file(folder, "t10k-labels-idx1-ubyte"))[:limit].long()
    x = (images.float().reshape(-1, c, h, h) / 255.0 - mean) / std
    with torch.no_grad():
        right = (model(x).argmax(1) == labels).sum().item()
    print("accuracy %.2f%% (%d images)" % (100.0 * right / len(labels), len(labels)))


if __name__ == "__main__":
    main()
