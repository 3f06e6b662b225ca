#!/usr/bin/python3
"""torch_layer_check.py — PyTorch redoes the SGD steps bench/layer_check
dumped (same initial weights, same batches, same dropout masks) and
compares, tensor by tensor, what fedgrid computed:

    bench/layer_check -S 1 -k 3 -o /tmp/lc.bin      (in a build dir)
    /usr/bin/python3 bench/torch_layer_check.py /tmp/lc.bin [--all]

    (--make-batches FILE -S seed -k steps -n 32 writes the Tiny-ImageNet
    batches of bench/torch_tinyimagenet.py's epoch 0, steps 0 .. k-1 (its
    reimplementation of fedgrid's order and augmentation), for
    layer_check -x; --batches FILE compares them with the batches of a dump
    made with layer_check -D, i.e. fedgrid's own fg_dataset_batch.)

Needs Debian's python3-torch (1.13) and python3-torchvision (0.14); run
with /usr/bin/python3. Nothing in make check uses it.

The model is torchvision's mobilenet_v3_small (num_classes from the file)
with its Dropout replaced by the dumped mask (kept / (1 - p)); torch runs
it twice, in float64 (the reference) and in float32 (its own rounding:
the noise floor). Per step it prints the loss, and for the logits, every
parameter's gradient, and every tensor of the state after the update
(weights, and BN running mean / variance: the batch statistics of each
BN's input, i.e. the forward pass layer by layer) the relative error
max |x - ref| / max |ref| of fedgrid and of torch float32 against the
float64 reference. A tensor is flagged (!) when fedgrid's error exceeds
both 1e-4 and 20 times torch float32's: float32 arithmetic in another
order is expected to land at the float32 error, a semantic difference
far above it.
"""

import argparse
import os
import struct
import sys

import numpy as np


def read_dump(path):
    with open(path, 'rb') as f:
        data = f.read()
    pos = 0

    def take(fmt):
        nonlocal pos
        vals = struct.unpack_from(fmt, data, pos)
        pos += struct.calcsize(fmt)
        return vals

    def floats(count, dtype=np.float32):
        nonlocal pos
        a = np.frombuffer(data, dtype=dtype, count=count, offset=pos)
        pos += a.nbytes
        return a

    magic, nviews, n, h, w, c, classes, steps, width = take('<9I')
    if magic != 0x434c4746:
        sys.exit('%s: not a layer_check dump' % path)
    lr, momentum, wd, p = take('<4d')
    views, size = [], 0
    for _ in range(nviews):
        name_len, kind, rank = take('<3I')
        name = data[pos:pos + name_len].decode('ascii')
        pos += name_len
        shape = list(take('<%dQ' % rank))
        count = int(np.prod(shape))
        views.append((name, kind, shape, size, count))
        size += count
    state0 = floats(size)
    out = []
    for _ in range(steps):
        st = {}
        st['x'] = floats(n * h * w * c).reshape(n, h, w, c)
        st['y'] = floats(n, np.uint32).astype(np.int64)
        st['mask'] = floats(n * width, np.uint8).reshape(n, width)
        st['loss'] = take('<d')[0]
        st['logits'] = floats(n * classes).reshape(n, classes)
        st['grads'] = floats(size)
        st['after'] = floats(size)
        out.append(st)
    if pos != len(data):
        sys.exit('%s: %d bytes left over' % (path, len(data) - pos))
    meta = dict(n=n, classes=classes, lr=lr, momentum=momentum, wd=wd, p=p, width=width)
    return meta, views, state0, out


def build(meta, views, state0, dtype):
    import torch
    import torch.nn as nn
    import torchvision

    class MaskDropout(nn.Module):
        """Dropout with a given keep mask (n, width), scaled by 1 / (1 - p)."""
        def __init__(self, p):
            super().__init__()
            self.p, self.mask = p, None

        def forward(self, x):
            if not self.training:
                return x
            return x * self.mask.to(x.dtype) * (1.0 / (1.0 - self.p))

    model = torchvision.models.mobilenet_v3_small(num_classes=meta['classes'])
    drops = [i for i, m in enumerate(model.classifier) if isinstance(m, nn.Dropout)]
    assert len(drops) == 1
    model.classifier[drops[0]] = MaskDropout(meta['p'])
    sd = {name: torch.from_numpy(state0[off:off + count].reshape(shape).copy())
          for name, _, shape, off, count in views}
    result = model.load_state_dict(sd, strict=False)
    missing = [k for k in result.missing_keys if not k.endswith('num_batches_tracked')]
    if missing or result.unexpected_keys:
        sys.exit('state: missing %s, unexpected %s' % (missing, result.unexpected_keys))
    model = model.to(dtype)
    opt = torch.optim.SGD(model.parameters(), lr=meta['lr'], momentum=meta['momentum'],
                          weight_decay=meta['wd'])
    return model, model.classifier[drops[0]], opt


def run_step(model, drop, opt, st, dtype):
    """One step like fedgrid's; returns loss, logits, {name: grad}, {name: state after}."""
    import torch
    import torch.nn.functional as F
    model.train()
    x = torch.from_numpy(st['x'].transpose(0, 3, 1, 2).copy()).to(dtype)
    y = torch.from_numpy(st['y'])
    drop.mask = torch.from_numpy(st['mask'].copy())
    opt.zero_grad()
    out = model(x)
    loss = F.cross_entropy(out, y)
    loss.backward()
    grads = {k: v.grad.detach().double().numpy().copy() for k, v in model.named_parameters()}
    opt.step()
    after = {k: v.detach().double().numpy().copy() for k, v in model.state_dict().items()}
    return loss.item(), out.detach().double().numpy(), grads, after


def rel(a, ref):
    """max |a - ref| / max |ref|; None for a tensor that is zero in exact
    arithmetic (the bias gradient of a BN whose output only feeds another
    BN: both sides hold rounding noise of ~1e-17 there)."""
    scale = np.abs(ref).max()
    if scale < 1e-12:
        return None
    return np.abs(a.astype(np.float64) - ref).max() / scale


def compare(meta, views, state0, steps, show_all):
    import torch
    torch.set_num_threads(1)
    m64, d64, o64 = build(meta, views, state0, torch.float64)
    m32, d32, o32 = build(meta, views, state0, torch.float32)
    worst = 0
    flagged = 0
    for s, st in enumerate(steps):
        l64, z64, g64, a64 = run_step(m64, d64, o64, st, torch.float64)
        l32, z32, g32, a32 = run_step(m32, d32, o32, st, torch.float32)
        print('step %d: loss fedgrid %.7f torch64 %.7f torch32 %.7f; kept %d of %d'
              % (s, st['loss'], l64, l32, int(st['mask'].sum()), st['mask'].size))
        rows = [('logits', rel(st['logits'], z64), rel(z32, z64))]
        for name, kind, shape, off, count in views:
            if name in g64:
                g = st['grads'][off:off + count].reshape(shape)
                rows.append(('grad ' + name, rel(g, g64[name]), rel(g32[name], g64[name])))
        for name, kind, shape, off, count in views:
            a = st['after'][off:off + count].reshape(shape)
            rows.append(('after ' + name, rel(a, a64[name]), rel(a32[name], a64[name])))
        rows = [r for r in rows if r[1] is not None and r[2] is not None]
        for what, e_fg, e_32 in rows:
            bad = e_fg > 1e-4 and e_fg > 20 * max(e_32, 1e-9)
            flagged += bad
            worst = max(worst, e_fg / max(e_32, 1e-9))
            if show_all or bad:
                print('  %-48s fedgrid %.2e  torch32 %.2e%s' % (what, e_fg, e_32,
                                                              '  (!)' if bad else ''))
        for what in ('grad', 'after'):
            e = [r[1] for r in rows if r[0].startswith(what)]
            e32 = [r[2] for r in rows if r[0].startswith(what)]
            print('  %d %s: fedgrid max %.2e median %.2e, %d above 1e-4; torch32 max %.2e '
                  'median %.2e, %d above 1e-4'
                  % (len(e), 'gradients' if what == 'grad' else 'tensors after the update',
                     max(e), float(np.median(e)), sum(v > 1e-4 for v in e), max(e32),
                     float(np.median(e32)), sum(v > 1e-4 for v in e32)))
        print('  logits: fedgrid %.2e torch32 %.2e' % (rows[0][1], rows[0][2]))
        # next step from each side's own weights: the errors carry on
    print('%d tensor(s) flagged' % flagged)
    return 1 if flagged else 0


def make_batches(path, seed, steps, n):
    """Real training batches of epoch 0 (fedgrid's order and augmentation),
    NHWC float32 then uint32 labels, for layer_check -x."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from train_torch import augment_draws, batch_order, make_batch, normalise_lut
    from torch_tinyimagenet import IMAGENET_MEAN, IMAGENET_STD, PAD, load_tiny
    (train_x, train_y), _, _ = load_tiny('/work/shared/data/tiny-imagenet-200')
    order = np.array(batch_order(seed, 0, len(train_y)), dtype=np.int64)
    lut = normalise_lut(IMAGENET_MEAN, IMAGENET_STD)
    xs, ys = [], []
    for step in range(steps):
        idx = order[step * n:(step + 1) * n]
        x = make_batch(train_x, idx, lut, augment_draws(seed, 0, step, n, PAD), PAD)
        xs.append(x.transpose(0, 2, 3, 1).astype(np.float32))
        ys.append(train_y[idx].astype(np.uint32))
    with open(path, 'wb') as f:
        for x in xs:
            f.write(np.ascontiguousarray(x).tobytes())
        for y in ys:
            f.write(y.tobytes())


def compare_batches(dump, path):
    """0 when every step's images (bit for bit) and labels of the dump
    equal those of a --make-batches file."""
    meta, _, _, steps = dump
    shape = steps[0]['x'].shape
    data = np.fromfile(path, dtype=np.uint8)
    per = int(np.prod(shape)) * 4
    if data.size != len(steps) * (per + meta['n'] * 4):
        sys.exit('%s: %d bytes, not %d steps of this dump' % (path, data.size, len(steps)))
    bad = 0
    for s, st in enumerate(steps):
        x = data[s * per:(s + 1) * per].view(np.float32).reshape(shape)
        at = len(steps) * per + s * meta['n'] * 4
        y = data[at:at + meta['n'] * 4].view(np.uint32)
        same_x = np.array_equal(x.view(np.uint32), st['x'].view(np.uint32))
        same_y = np.array_equal(y.astype(np.int64), st['y'])
        print('step %d: images %s, labels %s' % (s, 'equal bit for bit' if same_x else
                                                 'DIFFER (max |d| %g)' % np.abs(x - st['x']).max(),
                                                 'equal' if same_y else 'DIFFER'))
        bad += not (same_x and same_y)
    return 1 if bad else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('dump', nargs='?')
    ap.add_argument('--all', action='store_true', help='print every tensor')
    ap.add_argument('--make-batches', metavar='FILE')
    ap.add_argument('--batches', metavar='FILE', help='compare the dump\'s batches with these')
    ap.add_argument('-S', '--seed', type=int, default=1)
    ap.add_argument('-k', '--steps', type=int, default=3)
    ap.add_argument('-n', '--batch', type=int, default=32)
    a = ap.parse_args()
    if a.make_batches:
        make_batches(a.make_batches, a.seed, a.steps, a.batch)
        return 0
    if not a.dump:
        ap.error('a dump file or --make-batches')
    dump = read_dump(a.dump)
    if a.batches:
        return compare_batches(dump, a.batches)
    return compare(*dump, a.all)


if __name__ == '__main__':
    sys.exit(main())
