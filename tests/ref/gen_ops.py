#!/usr/bin/env python3
"""gen_ops.py - writes tests/ref/ops_ref.bin: PyTorch reference tensors for
the layer kernels of nn/ (forward outputs and autograd gradients), which
tests/test_ops.c compares against fg_ops within a stated tolerance.

Run by hand when a case is added (needs python3-torch; the C tests do not):
    /usr/bin/python3 tests/ref/gen_ops.py tests/ref/ops_ref.bin

Inputs come from a fixed formula (no RNG state), are stored in the file with
the outputs, and activations are stored NHWC (torch's NCHW permuted), weights
in torch's own order - the layout fg_ops promises.

File format (little-endian):
    magic "FGOPSREF", u32 version (1), u32 tensor count, then per tensor:
    u32 name length, name bytes (no NUL), u32 rank (1..4), u32 dims[rank],
    float32 data[prod(dims)].
"""

import struct
import sys

import torch
import torch.nn.functional as F

torch.set_default_dtype(torch.float32)
tensors = []


def put(name, t):
    t = t.detach().to(torch.float32).contiguous().clone()
    tensors.append((name, list(t.shape) if t.dim() else [1], t.reshape(-1)))


def nhwc(t):
    return t.permute(0, 2, 3, 1)


def values(shape, salt, lo=-1.0, hi=1.0):
    """Deterministic pseudo-random values in [lo, hi) from a hash of the index."""
    n = 1
    for d in shape:
        n *= d
    i = torch.arange(n, dtype=torch.int64)
    h = (i * 2654435761 + salt * 40503 + 12345) % 4294967296
    h = (h ^ (h >> 13)) * 1274126177 % 4294967296
    u = (h % 1000003).to(torch.float64) / 1000003.0
    return (lo + (hi - lo) * u).to(torch.float32).reshape(shape)


def conv_case(name, n, c, h, w, k, kh, kw, stride, pad, groups, bias, salt):
    x = values((n, c, h, w), salt).requires_grad_()
    wt = values((k, c // groups, kh, kw), salt + 1).requires_grad_()
    b = values((k,), salt + 2).requires_grad_() if bias else None
    y = F.conv2d(x, wt, b, stride=stride, padding=pad, groups=groups)
    dy = values(tuple(y.shape), salt + 3)
    y.backward(dy)
    shape = torch.tensor([n, h, w, c, k, kh, kw, stride[0], stride[1], pad[0], pad[1], groups],
                         dtype=torch.float32)
    put(name + ".shape", shape)
    put(name + ".x", nhwc(x))
    put(name + ".w", wt)
    if bias:
        put(name + ".b", b)
        put(name + ".db", b.grad)
    put(name + ".y", nhwc(y))
    put(name + ".dy", nhwc(dy))
    put(name + ".dx", nhwc(x.grad))
    put(name + ".dw", wt.grad)


def main(path):
    conv_case("conv_grouped", 2, 4, 7, 6, 6, 3, 3, (2, 2), (1, 1), 2, True, 10)
    conv_case("conv_depthwise", 2, 5, 8, 8, 5, 5, 5, (2, 2), (2, 2), 5, False, 20)
    conv_case("conv_1x1", 2, 6, 4, 4, 3, 1, 1, (1, 1), (0, 0), 1, True, 30)
    conv_case("conv_rect", 1, 3, 6, 5, 4, 2, 3, (2, 1), (0, 1), 1, True, 40)

    # batch norm: one training step (batch statistics, running update), then eval
    x = values((4, 3, 5, 5), 50, -2.0, 3.0).requires_grad_()
    bn = torch.nn.BatchNorm2d(3, eps=1e-5, momentum=0.1)
    with torch.no_grad():
        bn.weight.copy_(values((3,), 51, 0.5, 1.5))
        bn.bias.copy_(values((3,), 52))
        bn.running_mean.copy_(values((3,), 53, -0.5, 0.5))
        bn.running_var.copy_(values((3,), 54, 0.5, 2.0))
    put("bn.x", nhwc(x))
    put("bn.gamma", bn.weight)
    put("bn.beta", bn.bias)
    put("bn.running_mean0", bn.running_mean.clone())
    put("bn.running_var0", bn.running_var.clone())
    bn.train()
    y = bn(x)
    dy = values(tuple(y.shape), 55)
    y.backward(dy)
    put("bn.y", nhwc(y))
    put("bn.dy", nhwc(dy))
    put("bn.dx", nhwc(x.grad))
    put("bn.dgamma", bn.weight.grad)
    put("bn.dbeta", bn.bias.grad)
    put("bn.running_mean1", bn.running_mean)
    put("bn.running_var1", bn.running_var)
    bn.eval()
    xe = x.detach().clone().requires_grad_()
    ye = bn(xe)
    ye.backward(dy)
    put("bn.y_eval", nhwc(ye))
    put("bn.dx_eval", nhwc(xe.grad))

    # activations, including the kinks exactly
    a = torch.cat([torch.tensor([-3.0, 0.0, 3.0, 6.0, -6.0, 7.5]), values((58,), 60, -8.0, 8.0)])
    put("act.x", a)
    for name, fn in (("relu", F.relu), ("relu6", F.relu6),
                     ("hardsigmoid", F.hardsigmoid), ("hardswish", F.hardswish)):
        xa = a.clone().requires_grad_()
        ya = fn(xa)
        ya.backward(torch.ones_like(ya))
        put("act." + name + ".y", ya)
        put("act." + name + ".dx", xa.grad)

    # pooling
    x = values((2, 3, 7, 7), 70).requires_grad_()
    y = F.max_pool2d(x, 3, 2, 1)
    dy = values(tuple(y.shape), 71)
    y.backward(dy)
    put("maxpool.x", nhwc(x))
    put("maxpool.y", nhwc(y))
    put("maxpool.dy", nhwc(dy))
    put("maxpool.dx", nhwc(x.grad))
    x = values((2, 3, 7, 7), 72).requires_grad_()
    y = F.avg_pool2d(x, 3, 2, 1, count_include_pad=True)
    dy = values(tuple(y.shape), 73)
    y.backward(dy)
    put("avgpool.x", nhwc(x))
    put("avgpool.y", nhwc(y))
    put("avgpool.dy", nhwc(dy))
    put("avgpool.dx", nhwc(x.grad))

    # linear
    x = values((5, 7), 80).requires_grad_()
    w = values((4, 7), 81).requires_grad_()
    b = values((4,), 82).requires_grad_()
    y = F.linear(x, w, b)
    dy = values((5, 4), 83)
    y.backward(dy)
    for k, v in (("x", x), ("w", w), ("b", b), ("y", y), ("dy", dy), ("dx", x.grad),
                 ("dw", w.grad), ("db", b.grad)):
        put("linear." + k, v)

    # flatten of the NCHW tensor after global pooling-free features
    x = values((2, 3, 4, 5), 90)
    put("flatten.x", nhwc(x))
    put("flatten.y", torch.flatten(x, 1))

    # squeeze-and-excitation as torchvision builds it
    x = values((2, 8, 3, 3), 100, -1.0, 2.0).requires_grad_()
    w1 = values((4, 8, 1, 1), 101).requires_grad_()
    b1 = values((4,), 102, -0.5, 0.5).requires_grad_()
    w2 = values((8, 4, 1, 1), 103, -2.0, 2.0).requires_grad_()
    b2 = values((8,), 104).requires_grad_()
    s = F.adaptive_avg_pool2d(x, 1)
    s = F.hardsigmoid(F.conv2d(F.relu(F.conv2d(s, w1, b1)), w2, b2))
    y = s * x
    dy = values(tuple(y.shape), 105)
    y.backward(dy)
    put("se.x", nhwc(x))
    for k, v in (("w1", w1), ("b1", b1), ("w2", w2), ("b2", b2)):
        put("se." + k, v)
        put("se.d" + k, v.grad)
    put("se.y", nhwc(y))
    put("se.dy", nhwc(dy))
    put("se.dx", nhwc(x.grad))

    # softmax cross-entropy, mean over the batch
    z = values((6, 10), 110, -4.0, 4.0).requires_grad_()
    labels = torch.tensor([3, 0, 9, 9, 5, 1])
    loss = F.cross_entropy(z, labels)
    loss.backward()
    put("xent.logits", z)
    put("xent.labels", labels.to(torch.float32))
    put("xent.loss", loss.reshape(1))
    put("xent.dlogits", z.grad)

    with open(path, "wb") as f:
        f.write(b"FGOPSREF")
        f.write(struct.pack("<II", 1, len(tensors)))
        for name, shape, data in tensors:
            nb = name.encode()
            f.write(struct.pack("<I", len(nb)) + nb)
            f.write(struct.pack("<I", len(shape)))
            f.write(struct.pack("<%dI" % len(shape), *shape))
            f.write(struct.pack("<%df" % data.numel(), *data.tolist()))
    print("%s: %d tensors (torch %s)" % (path, len(tensors), torch.__version__))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "tests/ref/ops_ref.bin")
