#!/usr/bin/python3
"""gen_models.py — checks fedgrid's models against PyTorch/torchvision and
writes the reference logits tests/test_model.c compares with.

    FG_MODEL_DUMP=/tmp/dump tests/test_model        (in a build dir)
    /usr/bin/python3 tests/ref/gen_models.py /tmp/dump > tests/ref/models.ref

Needs Debian's python3-torch and python3-torchvision (0.14). For every
model the dump holds fedgrid's state (names, kinds, shapes, floats) and an
input batch (NHWC). The script builds the same architecture from torch's
own modules — torchvision's vgg16_bn ().features and mobilenet_v3_small /
_large, cnn-small as two nn.Sequential — and asserts that its state_dict,
num_batches_tracked aside, has exactly our names in our order with our
shapes and kinds (parameters vs buffers), loads our floats with
load_state_dict, and prints the logits torch computes in float64: eval
mode for all, train mode (batch statistics) for the models without
dropout.
"""
import struct
import sys

import torch
import torch.nn as nn
import torchvision


class CnnSmall(nn.Module):
    def __init__(self, classes, channels, side):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(channels, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2))
        f = ((side - 2) // 2 - 2) // 2
        self.classifier = nn.Sequential(
            nn.Linear(64 * f * f, 128), nn.ReLU(), nn.Linear(128, classes))

    def forward(self, x):
        return self.classifier(torch.flatten(self.features(x), 1))


class Vgg16BnCifar(nn.Module):
    def __init__(self, classes):
        super().__init__()
        self.features = torchvision.models.vgg16_bn().features
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(512, classes)

    def forward(self, x):
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


CASES = [  # tag, train-mode check
    ("cnn-small", True),
    ("vgg16-bn", True),
    ("mobilenetv3-small", False),
    ("mobilenetv3-large", False),
]


def read_dump(path):
    with open(path, "rb") as f:
        data = f.read()
    pos = 0

    def take(fmt):
        nonlocal pos
        vals = struct.unpack_from(fmt, data, pos)
        pos += struct.calcsize(fmt)
        return vals

    nviews, n, h, w, c, classes = take("<6I")
    views = []
    for _ in range(nviews):
        name_len, kind, rank = take("<3I")
        name = data[pos:pos + name_len].decode("ascii")
        pos += name_len
        shape = list(take("<%dQ" % rank))
        count = 1
        for d in shape:
            count *= d
        values = take("<%df" % count)
        views.append((name, kind, shape, values))
    x = take("<%df" % (n * h * w * c))
    assert pos == len(data), "trailing bytes in " + path
    return views, (n, h, w, c, classes), x


def build(tag, classes, channels, side):
    if tag == "cnn-small":
        return CnnSmall(classes, channels, side)
    if tag == "vgg16-bn":
        return Vgg16BnCifar(classes)
    if tag == "mobilenetv3-small":
        return torchvision.models.mobilenet_v3_small(num_classes=classes)
    return torchvision.models.mobilenet_v3_large(num_classes=classes)


def main():
    dump = sys.argv[1]
    torch.set_num_threads(1)
    for tag, train in CASES:
        views, (n, h, w, c, classes), x = read_dump("%s/%s.bin" % (dump, tag))
        model = build(tag, classes, c, h)
        params = dict(model.named_parameters())
        ref = [(k, v) for k, v in model.state_dict().items()
               if not k.endswith("num_batches_tracked")]
        assert [k for k, _ in ref] == [v[0] for v in views], tag + ": names or order differ"
        sd = {}
        for (k, t), (name, kind, shape, values) in zip(ref, views):
            assert list(t.shape) == shape, "%s: %s shape %s vs %s" % (tag, k, list(t.shape), shape)
            assert (kind == 0) == (k in params), "%s: %s kind" % (tag, k)
            sd[name] = torch.tensor(values, dtype=torch.float32).reshape(shape)
        missing, unexpected = model.load_state_dict(sd, strict=False)
        assert not unexpected and all(k.endswith("num_batches_tracked") for k in missing)
        nparams = sum(p.numel() for p in model.parameters())
        print("# %s: %d parameters, %d tensors match torch's state_dict"
              % (tag, nparams, len(views)), file=sys.stderr)
        model = model.double()
        xt = torch.tensor(x, dtype=torch.float64).reshape(n, h, w, c).permute(0, 3, 1, 2)
        modes = [("eval", False)] + ([("train", True)] if train else [])
        for mode, training in modes:
            model.train(training)
            with torch.no_grad():
                y = model(xt).reshape(-1)
            print(tag, mode, " ".join("%.9g" % float(v) for v in y))


if __name__ == "__main__":
    main()
