#!/usr/bin/python3
"""gen_refs.py — writes the PyTorch reference fixtures that tests/test_ref.c
compares fedgrid's layer kernels (nn/fg_ops.h) and the cnn-small forward
pass against.

    /usr/bin/python3 tests/ref/gen_refs.py [outdir]     (default: tests/ref)

Needs Debian's python3-torch (1.13) and python3-numpy; the C test does not
(it only reads the committed .ref files). Re-running it rewrites the files
bit for bit (fixed torch.Generator seeds, single thread).

Method. Every input is drawn in float32 (so the C side sees exactly the
same values); the reference outputs and gradients are computed by torch in
float64 from those values and then rounded to float32 once, so the
fixture carries (almost) no rounding error of its own. Gradients are those
of L = sum (y * dy) for a fixed random dy (dy is in the fixture).

Layout. Every tensor is stored in OUR layout: activations NHWC (torch's
NCHW permuted), conv weights (K, C/groups, KH, KW) and linear weights
(OUT, IN) as torch has them.

File format (little-endian):
    "FGREF001"                      8 bytes magic
    u32 count                       number of records
    count x record:
        u8  name_len, name          (ASCII, no NUL)
        u8  dtype                   0 f32, 1 f64, 2 i32, 3 q8 (see below)
        u8  rank (0..4), u32 dims [rank]
        [q8 only: i32 e]            value = int8 q * 2^e (exact in float32)
        data                        prod (dims) elements
q8 keeps the cnn-small weights (53,002 of them) small: they are drawn as
multiples of 2^e, so the fixture holds them exactly in one byte each.
"""

import os
import struct
import sys

import numpy as np
import torch
import torch.nn.functional as F

torch.set_num_threads(1)

F32, F64, I32, Q8 = 0, 1, 2, 3


class Fixture:
    def __init__(self):
        self.records = []

    def f32(self, name, array):
        self.records.append((name, F32, np.ascontiguousarray(array, dtype=np.float32), None))

    def f64(self, name, array):
        self.records.append((name, F64, np.ascontiguousarray(array, dtype=np.float64), None))

    def i32(self, name, array):
        self.records.append((name, I32, np.ascontiguousarray(array, dtype=np.int32), None))

    def q8(self, name, q, e):
        self.records.append((name, Q8, np.ascontiguousarray(q, dtype=np.int8), e))

    def write(self, path):
        out = bytearray(b"FGREF001")
        out += struct.pack("<I", len(self.records))
        for name, dtype, array, e in self.records:
            raw = name.encode("ascii")
            assert len(raw) < 256 and array.ndim <= 4
            out += struct.pack("<B", len(raw)) + raw
            out += struct.pack("<BB", dtype, array.ndim)
            for d in array.shape:
                out += struct.pack("<I", d)
            if dtype == Q8:
                out += struct.pack("<i", e)
            out += array.astype(array.dtype.newbyteorder("<")).tobytes()
        assert len(out) < 100 * 1024, (path, len(out))
        with open(path, "wb") as f:
            f.write(out)
        print("%s: %d records, %d bytes" % (path, len(self.records), len(out)))


def rand(gen, *shape, lo=-1.0, hi=1.0):
    """float32 uniform in [lo, hi), then promoted to float64 exactly."""
    t = torch.rand(*shape, generator=gen, dtype=torch.float32) * (hi - lo) + lo
    return t.to(torch.float32).double()


def nhwc(t):
    """NCHW torch tensor -> NHWC numpy array."""
    return t.detach().permute(0, 2, 3, 1).contiguous().numpy()


def grads_of(y, dy, *leaves):
    """Gradients of sum (y * dy) w.r.t. the leaves."""
    return torch.autograd.grad((y * dy).sum(), leaves)


# ---------------------------------------------------------------------------
# Convolution

def conv_case(outdir, name, seed, n, c, h, w, k, kh, kw, sh, sw, ph, pw, groups, bias):
    gen = torch.Generator().manual_seed(seed)
    x = rand(gen, n, c, h, w).requires_grad_()
    wt = rand(gen, k, c // groups, kh, kw, lo=-0.5, hi=0.5).requires_grad_()
    b = rand(gen, k).requires_grad_() if bias else None
    y = F.conv2d(x, wt, b, stride=(sh, sw), padding=(ph, pw), groups=groups)
    dy = rand(gen, *y.shape)
    leaves = (x, wt, b) if bias else (x, wt)
    g = grads_of(y, dy, *leaves)
    fx = Fixture()
    fx.i32("shape", [n, h, w, c, k, kh, kw, sh, sw, ph, pw, groups])
    fx.f32("x", nhwc(x))
    fx.f32("w", wt.detach().numpy())
    if bias:
        fx.f32("b", b.detach().numpy())
    fx.f32("y", nhwc(y))
    fx.f32("dy", nhwc(dy))
    fx.f32("dx", nhwc(g[0]))
    fx.f32("dw", g[1].numpy())
    if bias:
        fx.f32("db", g[2].numpy())
    fx.write(os.path.join(outdir, name + ".ref"))


# ---------------------------------------------------------------------------
# Batch norm (BatchNorm2d on NHWC = over the last axis of (M, C))

def bn_case(outdir, name, seed, training):
    gen = torch.Generator().manual_seed(seed)
    n, c, h, w = 3, 5, 4, 3
    momentum, eps = 0.1, 1e-5
    x = rand(gen, n, c, h, w, lo=-1.5, hi=2.5).requires_grad_()
    gamma = rand(gen, c, lo=0.5, hi=1.5).requires_grad_()
    beta = rand(gen, c).requires_grad_()
    rm0 = rand(gen, c)
    rv0 = rand(gen, c, lo=0.5, hi=2.0)
    rm, rv = rm0.clone(), rv0.clone()
    y = F.batch_norm(x, rm, rv, gamma, beta, training=training, momentum=momentum, eps=eps)
    dy = rand(gen, *y.shape)
    dx, dgamma, dbeta = grads_of(y, dy, x, gamma, beta)
    xd = x.detach()
    if training:
        mean = xd.mean(dim=(0, 2, 3))
        var = xd.var(dim=(0, 2, 3), unbiased=False)
    else:
        mean, var = rm0, rv0
    fx = Fixture()
    fx.i32("shape", [n * h * w, c])
    fx.f32("params", [momentum, eps])
    fx.f32("x", nhwc(xd))
    fx.f32("gamma", gamma.detach().numpy())
    fx.f32("beta", beta.detach().numpy())
    fx.f32("running_mean_in", rm0.numpy())
    fx.f32("running_var_in", rv0.numpy())
    fx.f32("y", nhwc(y))
    fx.f32("running_mean", rm.numpy())
    fx.f32("running_var", rv.numpy())
    fx.f32("save_mean", mean.numpy())
    fx.f32("save_invstd", (1.0 / torch.sqrt(var + eps)).numpy())
    fx.f32("dy", nhwc(dy))
    fx.f32("dx", nhwc(dx))
    fx.f32("dgamma", dgamma.numpy())
    fx.f32("dbeta", dbeta.numpy())
    fx.write(os.path.join(outdir, name + ".ref"))


# ---------------------------------------------------------------------------
# Activations: one file, every function, inputs including the kinks.

def act_case(outdir):
    gen = torch.Generator().manual_seed(301)
    kinks = torch.tensor([-3.0, 0.0, 3.0, 6.0, -6.0, 7.5, -2.5, 2.5], dtype=torch.float32)
    near = torch.tensor([-3.0, 0.0, 3.0, 6.0], dtype=torch.float32)
    near = torch.cat([torch.nextafter(near, torch.tensor(-1e9)),
                      torch.nextafter(near, torch.tensor(1e9))])
    body = torch.rand(240, generator=gen, dtype=torch.float32) * 16.0 - 8.0
    x = torch.cat([kinks, near, body]).double().requires_grad_()
    dy = rand(gen, x.numel())
    fx = Fixture()
    fx.f32("x", x.detach().numpy())
    fx.f32("dy", dy.numpy())
    for fname, fn in (("relu", F.relu), ("relu6", F.relu6),
                      ("hardsigmoid", F.hardsigmoid), ("hardswish", F.hardswish)):
        y = fn(x)
        (dx,) = grads_of(y, dy, x)
        if fname == "hardswish":
            # torch 1.13 disagrees with itself at x = +3 exactly: its
            # vectorised CPU kernel gives d = 1 (x >= 3), the scalar tail
            # d = x/3 + 1/2 = 1.5 (x <= 3, the documented formula, which
            # fg_ops follows). Take the scalar path's value there: one
            # element at a time.
            for i in torch.nonzero(x.detach() == 3.0).flatten().tolist():
                xi = x.detach()[i:i + 1].clone().requires_grad_()
                (dxi,) = grads_of(fn(xi), dy[i:i + 1], xi)
                dx[i] = dxi[0]
        fx.f32(fname + ".y", y.detach().numpy())
        fx.f32(fname + ".dx", dx.numpy())
    fx.write(os.path.join(outdir, "act.ref"))


# ---------------------------------------------------------------------------
# Pooling

def pool_case(outdir, name, seed, kind, n, c, h, w, kh, kw, sh, sw, ph, pw, ties=False):
    gen = torch.Generator().manual_seed(seed)
    x = rand(gen, n, c, h, w)
    if ties:                            # values in {0, .5, 1}: many equal maxima
        x = torch.round(x + 1.0) / 2.0
    x = x.requires_grad_()
    if kind == "max":
        y = F.max_pool2d(x, (kh, kw), (sh, sw), (ph, pw))
    else:
        y = F.avg_pool2d(x, (kh, kw), (sh, sw), (ph, pw), count_include_pad=True)
    dy = rand(gen, *y.shape)
    (dx,) = grads_of(y, dy, x)
    fx = Fixture()
    fx.i32("shape", [n, h, w, c, kh, kw, sh, sw, ph, pw])
    fx.f32("x", nhwc(x))
    fx.f32("y", nhwc(y))
    fx.f32("dy", nhwc(dy))
    fx.f32("dx", nhwc(dx))
    fx.write(os.path.join(outdir, name + ".ref"))


def gap_case(outdir):
    gen = torch.Generator().manual_seed(401)
    n, c, h, w = 3, 7, 5, 4
    x = rand(gen, n, c, h, w).requires_grad_()
    y = F.adaptive_avg_pool2d(x, 1).flatten(1)
    dy = rand(gen, *y.shape)
    (dx,) = grads_of(y, dy, x)
    fx = Fixture()
    fx.i32("shape", [n, h, w, c])
    fx.f32("x", nhwc(x))
    fx.f32("y", y.detach().numpy())
    fx.f32("dy", dy.numpy())
    fx.f32("dx", nhwc(dx))
    fx.write(os.path.join(outdir, "gap.ref"))


# ---------------------------------------------------------------------------
# Linear, flatten, SE scaling, squeeze-and-excitation, cross-entropy

def linear_case(outdir):
    gen = torch.Generator().manual_seed(501)
    n, fin, fout = 5, 37, 11
    x = rand(gen, n, fin).requires_grad_()
    wt = rand(gen, fout, fin, lo=-0.3, hi=0.3).requires_grad_()
    b = rand(gen, fout).requires_grad_()
    y = F.linear(x, wt, b)
    dy = rand(gen, *y.shape)
    dx, dw, db = grads_of(y, dy, x, wt, b)
    fx = Fixture()
    fx.i32("shape", [n, fin, fout])
    fx.f32("x", x.detach().numpy())
    fx.f32("w", wt.detach().numpy())
    fx.f32("b", b.detach().numpy())
    fx.f32("y", y.detach().numpy())
    fx.f32("dy", dy.numpy())
    fx.f32("dx", dx.numpy())
    fx.f32("dw", dw.numpy())
    fx.f32("db", db.numpy())
    fx.write(os.path.join(outdir, "linear.ref"))


def flatten_case(outdir):
    gen = torch.Generator().manual_seed(601)
    n, c, h, w = 2, 3, 4, 5
    x = rand(gen, n, c, h, w)
    fx = Fixture()
    fx.i32("shape", [n, h, w, c])
    fx.f32("x", nhwc(x))
    fx.f32("y", torch.flatten(x, 1).numpy())
    fx.write(os.path.join(outdir, "flatten.ref"))


def se_case(outdir):
    gen = torch.Generator().manual_seed(701)
    n, c, h, w, cs = 2, 16, 3, 4, 8
    x = rand(gen, n, c, h, w).requires_grad_()
    w1 = rand(gen, cs, c, 1, 1, lo=-0.5, hi=0.5).requires_grad_()
    b1 = rand(gen, cs, lo=-0.2, hi=0.2).requires_grad_()
    w2 = rand(gen, c, cs, 1, 1, lo=-0.5, hi=0.5).requires_grad_()
    b2 = rand(gen, c, lo=-0.2, hi=0.2).requires_grad_()
    # torchvision SqueezeExcitation: avgpool, fc1, relu, fc2, hardsigmoid, scale
    p = F.adaptive_avg_pool2d(x, 1)
    s = F.hardsigmoid(F.conv2d(F.relu(F.conv2d(p, w1, b1)), w2, b2))
    y = x * s
    dy = rand(gen, *y.shape)
    dx, dw1, db1, dw2, db2 = grads_of(y, dy, x, w1, b1, w2, b2)
    fx = Fixture()
    fx.i32("shape", [n, h * w, c, cs])
    fx.f32("x", nhwc(x))
    fx.f32("w1", w1.detach().numpy())
    fx.f32("b1", b1.detach().numpy())
    fx.f32("w2", w2.detach().numpy())
    fx.f32("b2", b2.detach().numpy())
    fx.f32("y", nhwc(y))
    fx.f32("dy", nhwc(dy))
    fx.f32("dx", nhwc(dx))
    fx.f32("dw1", dw1.numpy())
    fx.f32("db1", db1.numpy())
    fx.f32("dw2", dw2.numpy())
    fx.f32("db2", db2.numpy())
    # fg_scale on its own: x (N,HW,C) * s (N,C)
    s_leaf = s.detach().clone().requires_grad_()
    x2 = x.detach().clone().requires_grad_()
    y2 = x2 * s_leaf
    dx2, ds2 = grads_of(y2, dy, x2, s_leaf)
    fx.f32("scale.s", s_leaf.detach().flatten(1).numpy())
    fx.f32("scale.y", nhwc(y2))
    fx.f32("scale.dx", nhwc(dx2))
    fx.f32("scale.ds", ds2.flatten(1).numpy())
    fx.write(os.path.join(outdir, "se.ref"))


def xent_case(outdir):
    gen = torch.Generator().manual_seed(801)
    n, k = 6, 9
    logits = rand(gen, n, k, lo=-4.0, hi=4.0).requires_grad_()
    labels = torch.randint(0, k, (n,), generator=gen)
    loss = F.cross_entropy(logits, labels)
    (dlogits,) = torch.autograd.grad(loss, (logits,))
    correct = int((logits.detach().argmax(dim=1) == labels).sum())
    fx = Fixture()
    fx.i32("shape", [n, k])
    fx.f32("logits", logits.detach().numpy())
    fx.i32("labels", labels.numpy())
    fx.f64("loss", [loss.item()])
    fx.i32("correct", [correct])
    fx.f32("dlogits", dlogits.numpy())
    fx.write(os.path.join(outdir, "xent.ref"))


# ---------------------------------------------------------------------------
# cnn-small (fg_model.h) at 16x16x1, 10 classes: small enough for the
# weights to fit the fixture (53,002 floats as q8), large enough that the
# flatten before classifier.0 is a real (2,2,64) -> 256 permutation.

CNN_SMALL_NAMES = ["features.0.weight", "features.0.bias", "features.3.weight",
                   "features.3.bias", "classifier.0.weight", "classifier.0.bias",
                   "classifier.2.weight", "classifier.2.bias"]


def cnn_small_case(outdir):
    gen = torch.Generator().manual_seed(901)
    n, hw, classes = 4, 16, 10
    shapes = [(32, 1, 3, 3), (32,), (64, 32, 3, 3), (64,),
              (128, 256), (128,), (classes, 128), (classes,)]
    # weights: q * 2^e, q int8 in [-127, 127]; e puts the range near torch's
    # default init (bound 1/sqrt(fan_in))
    exps = [-8, -9, -10, -10, -11, -11, -10, -10]
    params = {}
    fx = Fixture()
    fx.i32("shape", [n, hw, hw, 1, classes])
    for name, shape, e in zip(CNN_SMALL_NAMES, shapes, exps):
        q = torch.randint(-127, 128, shape, generator=gen, dtype=torch.int32)
        params[name] = (q.double() * 2.0 ** e).requires_grad_()
        fx.q8(name, q.numpy().astype(np.int8), e)
    x = rand(gen, n, 1, hw, hw)
    labels = torch.randint(0, classes, (n,), generator=gen)
    p = params
    h = F.max_pool2d(F.relu(F.conv2d(x, p["features.0.weight"], p["features.0.bias"])), 2)
    h = F.max_pool2d(F.relu(F.conv2d(h, p["features.3.weight"], p["features.3.bias"])), 2)
    h = F.relu(F.linear(torch.flatten(h, 1), p["classifier.0.weight"], p["classifier.0.bias"]))
    logits = F.linear(h, p["classifier.2.weight"], p["classifier.2.bias"])
    loss = F.cross_entropy(logits, labels)
    grads = torch.autograd.grad(loss, [p[k] for k in CNN_SMALL_NAMES])
    fx.f32("x", nhwc(x))
    fx.i32("labels", labels.numpy())
    fx.f32("logits", logits.detach().numpy())
    fx.f64("loss", [loss.item()])
    # gradients are too big to store whole: per tensor the sum, the sum of
    # absolute values and every 97th element (from 0)
    for name, g in zip(CNN_SMALL_NAMES, grads):
        flat = g.flatten()
        fx.f64("grad." + name + ".sum", [flat.sum().item()])
        fx.f64("grad." + name + ".abssum", [flat.abs().sum().item()])
        fx.f32("grad." + name + ".every97", flat[::97].numpy())
    fx.write(os.path.join(outdir, "cnn_small.ref"))


def main():
    outdir = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
    os.makedirs(outdir, exist_ok=True)
    #                                  seed n  c  h  w  k kh kw sh sw ph pw g bias
    conv_case(outdir, "conv_3x3",       101, 2, 3, 7, 6, 4, 3, 3, 1, 1, 1, 1, 1, True)
    conv_case(outdir, "conv_stride_pad", 102, 2, 4, 9, 8, 6, 3, 2, 2, 1, 1, 0, 1, True)
    conv_case(outdir, "conv_groups",    103, 2, 6, 7, 7, 4, 3, 3, 2, 2, 1, 1, 2, True)
    conv_case(outdir, "conv_depthwise", 104, 2, 5, 9, 9, 5, 5, 5, 2, 2, 2, 2, 5, False)
    conv_case(outdir, "conv_dw3_s1",    105, 2, 4, 6, 5, 4, 3, 3, 1, 1, 1, 1, 4, False)
    conv_case(outdir, "conv_1x1",       106, 3, 8, 4, 5, 5, 1, 1, 1, 1, 0, 0, 1, True)
    conv_case(outdir, "conv_1x1_s2",    107, 2, 6, 5, 5, 7, 1, 1, 2, 2, 0, 0, 1, False)
    bn_case(outdir, "bn_train", 201, True)
    bn_case(outdir, "bn_eval", 202, False)
    act_case(outdir)
    #                                          seed  kind   n  c  h  w kh kw sh sw ph pw
    pool_case(outdir, "maxpool_2x2",           351, "max", 2, 3, 6, 7, 2, 2, 2, 2, 0, 0)
    pool_case(outdir, "maxpool_3x3_pad",       352, "max", 2, 3, 7, 6, 3, 3, 2, 2, 1, 1)
    pool_case(outdir, "maxpool_ties",          353, "max", 2, 2, 6, 6, 3, 3, 1, 1, 1, 1, ties=True)
    pool_case(outdir, "avgpool_2x2",           354, "avg", 2, 3, 6, 7, 2, 2, 2, 2, 0, 0)
    pool_case(outdir, "avgpool_3x3_pad",       355, "avg", 2, 3, 7, 6, 3, 3, 2, 2, 1, 1)
    gap_case(outdir)
    linear_case(outdir)
    flatten_case(outdir)
    se_case(outdir)
    xent_case(outdir)
    cnn_small_case(outdir)


if __name__ == "__main__":
    main()
