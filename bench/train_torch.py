#!/usr/bin/python3
"""train_torch.py — the PyTorch reference for `fedctl train` accuracy:
vgg16-bn (fedgrid's CIFAR form) on CIFAR-10 with fedgrid's recipe.

    /usr/bin/python3 bench/train_torch.py [-d /work/shared/data/cifar10]
        [-e epochs] [-b 32] [--lr 0.01] [--momentum 0.9] [--wd 0]
        [--schedule constant|step|cosine] [--warmup W] [--milestones a,b]
        [--gamma 0.1] [-t threads] [--seed 1] [--torch-seed 1] [--order fedgrid|torch]
        [--no-augment] [--train-limit N] [--test-limit N] [--channels-last] [--check-rng]

Needs Debian's python3-torch (1.13) and python3-torchvision (0.14); run with
/usr/bin/python3. Nothing in `make check` depends on it.

What is the same as `fedctl train` (docs/models.md, docs/datasets.md):
- model: torchvision vgg16_bn ().features, AdaptiveAvgPool2d (1),
  Linear (512, 10); BN eps 1e-5 momentum 0.1; torchvision's initialisation
  distributions (kaiming_normal fan_out for convolutions, N(0, 0.01) for the
  head) — drawn by torch from torch.manual_seed (--torch-seed), so the
  initial VALUES differ from fedgrid's (which draws them from fg_rng);
- data: CIFAR-10 binary files train_1..5.bin (or data_batch_1..5.bin) in
  file order, test.bin (or test_batch.bin); (pixel / 255 - mean) / std
  with mean 0.4914, 0.4822, 0.4465, std 0.2470, 0.2435, 0.2616;
- batch order (--order fedgrid, the default): each epoch's permutation is
  fg_rng_permutation of the stream (seed, FG_RNG_BATCH = 4, round 0,
  shard 0, epoch, step 0), reimplemented below from lib/fg_rng.h
  (Philox4x32-10, Fisher-Yates from the end, Lemire multiply-and-reject);
  --check-rng prints values to compare with the C library's (below);
- augmentation: random crop with zero padding 4 (pixel value 0, i.e.
  -mean/std after normalisation) then horizontal flip, with fedgrid's own
  draws: the sample at batch position b of step s reads the stream
  (seed, FG_RNG_AUGMENT = 5, 0, 0, epoch, s) from word 4b: top = below (9)
  - 4, left = below (9) - 4, flip = top bit of the next word (nn/fg_augment.c);
- training: SGD (lr, momentum, weight decay as given), the rate of
  fg_optim_lr per epoch (constant by default here: what the CIFAR runs of
  docs/benchmarks.md used),
  mean cross-entropy, train mode; the last batch is the remainder (a single
  trailing image is skipped, as fedgrid does);
- evaluation: eval mode on the whole test set.
images/s = training images / wall time of the epoch's training loop
(batch preparation included, evaluation excluded), as fedctl train.
"""

import argparse
import os
import sys
import time

import numpy as np

MASK = 0xFFFFFFFF
MEAN = (0.4914, 0.4822, 0.4465)
STD = (0.2470, 0.2435, 0.2616)
FG_RNG_BATCH = 4
FG_RNG_AUGMENT = 5


# --------------------------------------------------------------------------
# fg_rng (lib/fg_rng.h), bit for bit

def philox(ctr, key):
    c0, c1, c2, c3 = ctr
    k0, k1 = key
    for _ in range(10):
        p0 = 0xD2511F53 * c0
        p1 = 0xCD9E8D57 * c2
        c0, c1, c2, c3 = ((p1 >> 32) ^ c1 ^ k0, p1 & MASK,
                          (p0 >> 32) ^ c3 ^ k1, p0 & MASK)
        k0 = (k0 + 0x9E3779B9) & MASK
        k1 = (k1 + 0xBB67AE85) & MASK
    return (c0, c1, c2, c3)


class Rng:
    def __init__(self, seed, purpose, rnd, shard, epoch, step):
        b1 = philox((purpose, rnd, shard, epoch), (seed & MASK, seed >> 32))
        b2 = philox((step, 0x66656467, 0, 0), (b1[0] ^ b1[2], b1[1] ^ b1[3]))
        self.key = (b2[0], b2[1])
        self.tag = (b2[2], b2[3])
        self.next = 0
        self.block_id = None
        self.block = None

    def seek(self, position):
        self.next = position

    def u32(self):
        block_id = self.next >> 2
        if block_id != self.block_id:
            self.block = philox((block_id & MASK, block_id >> 32) + self.tag, self.key)
            self.block_id = block_id
        word = self.block[self.next & 3]
        self.next += 1
        return word

    def below(self, bound):
        m = self.u32() * bound
        low = m & MASK
        if low < bound:
            threshold = ((1 << 32) - bound) % bound
            while low < threshold:
                m = self.u32() * bound
                low = m & MASK
        return m >> 32

    def permutation(self, n):
        items = list(range(n))
        for i in range(n, 1, -1):
            j = self.below(i)
            items[i - 1], items[j] = items[j], items[i - 1]
        return items


def batch_order(seed, epoch, n, rnd=0, shard=0):
    """Epoch `epoch`'s order of the positions 0..n-1 of a unit's shard
    (nn/fg_unit.c); fedctl train is round 0, shard 0."""
    return Rng(seed, FG_RNG_BATCH, rnd, shard, epoch, 0).permutation(n)


def augment_draws(seed, epoch, step, n, pad=4, rnd=0, shard=0):
    """(top, left, flip) per batch position; top and left in 0..2 pad, i.e.
    offsets into the image zero-padded by pad (nn/fg_augment.c)."""
    rng = Rng(seed, FG_RNG_AUGMENT, rnd, shard, epoch, step)
    draws = []
    for b in range(n):
        rng.seek(4 * b)
        top = rng.below(2 * pad + 1)
        left = rng.below(2 * pad + 1)
        flip = rng.u32() >> 31
        draws.append((top, left, flip))
    return draws


def check_rng():
    """Prints, for seed 1 and epoch 0, what this C program prints when linked
    with lib/fg_rng.c (run it as `prog 50000; prog 100`):

        fg_rng_t rng; uint32_t *p = malloc (n * 4); unsigned long long h = 0;
        fg_rng_init (&rng, 1, FG_RNG_BATCH, 0, 0, 0, 0);
        fg_rng_permutation (&rng, p, n);
        for (i = 0; i < n; i++) h = h * 1000003ull + p [i];
        for (i = 0; i < 10; i++) printf ("%u ", p [i]);
        printf ("\nlast %u hash %llu\n", p [n - 1], h);
        for (step = 0; step < 1563; step += 1562) for (b = 0; b < 3; b++) {
            fg_rng_init (&rng, 1, FG_RNG_AUGMENT, 0, 0, 0, step);
            fg_rng_seek (&rng, 4 * b);
            t = fg_rng_below (&rng, 9); l = fg_rng_below (&rng, 9);
            f = fg_rng_u32 (&rng) >> 31;
            printf ("aug %u %u: %u %u %u\n", step, b, t, l, f); }
    """
    for n in (50000, 100):
        p = batch_order(1, 0, n)
        h = 0
        for v in p:
            h = (h * 1000003 + v) & 0xFFFFFFFFFFFFFFFF
        print(' '.join(str(v) for v in p[:10]) + ' ')
        print('last %d hash %d' % (p[-1], h))
        for step in (0, 1562):
            d = augment_draws(1, 0, step, 3)
            for b in range(3):
                print('aug %d %d: %d %d %d' % ((step, b) + d[b]))


# --------------------------------------------------------------------------
# data

def load_cifar10(folder):
    def read(names):
        arrays = []
        for name in names:
            raw = np.fromfile(os.path.join(folder, name), dtype=np.uint8)
            if raw.size % 3073:
                sys.exit('%s: not a multiple of 3073 bytes' % name)
            arrays.append(raw.reshape(-1, 3073))
        records = np.concatenate(arrays)
        labels = records[:, 0].astype(np.int64)
        images = records[:, 1:].reshape(-1, 3, 32, 32)      # planar: N C H W
        return images, labels
    if os.path.exists(os.path.join(folder, 'data_batch_1.bin')):
        train = ['data_batch_%d.bin' % i for i in range(1, 6)]
        test = ['test_batch.bin']
    else:
        train = ['train_%d.bin' % i for i in range(1, 6)]
        test = ['test.bin']
    return read(train), read(test)


def normalise_lut(mean=MEAN, std=STD):
    # (pixel / 255 - mean) / std per byte value in double, rounded to float32,
    # as fg_dataset's lut (nn/fg_dataset.c)
    v = np.arange(256, dtype=np.float64) / 255.0
    return np.stack([(v - m) / s for m, s in zip(mean, std)]).astype(np.float32)


def make_batch(images, idx, lut, draws, pad=4):
    """images uint8 (N,C,H,W) -> float32 (n,C,H,W), augmented if draws
    (augment_draws with the same pad)."""
    x = images[idx]
    if draws is not None:
        n, c, h, w = x.shape
        padded = np.zeros((n, c, h + 2 * pad, w + 2 * pad), dtype=np.uint8)
        padded[:, :, pad:pad + h, pad:pad + w] = x
        out = np.empty_like(x)
        for b, (top, left, flip) in enumerate(draws):
            crop = padded[b, :, top:top + h, left:left + w]
            out[b] = crop[:, :, ::-1] if flip else crop
        x = out
    return np.stack([lut[c][x[:, c]] for c in range(x.shape[1])], axis=1)


# --------------------------------------------------------------------------
# training (shared with bench/torch_tinyimagenet.py)

def fedgrid_lr(a, epoch):
    """fg_optim_lr (nn/fg_optim.c) at a whole epoch, horizon = a.epochs,
    lr_min 0: constant, step (a.milestones, a.gamma) or cosine, with
    a.warmup warm-up epochs."""
    import math
    w, s = a.warmup, a.lr
    if a.schedule == 'step':
        s *= a.gamma ** sum(1 for m in a.milestones if m <= epoch)
    elif a.schedule == 'cosine' and epoch >= w:
        span = a.epochs - w
        x = min(1.0, (epoch - w) / span) if span > 0 else 1.0
        s = a.lr * (1 + math.cos(math.pi * x)) / 2
    if epoch < w:
        s = s * (epoch + 1) / (w + 1)
    return s


def add_common_args(ap, lr, wd, schedule, threads):
    """The options both reference scripts share (fedctl train's recipe)."""
    ap.add_argument('-e', '--epochs', type=int, default=1)
    ap.add_argument('-b', '--batch', type=int, default=32)
    ap.add_argument('--test-batch', type=int, default=100)
    ap.add_argument('--lr', type=float, default=lr)
    ap.add_argument('--momentum', type=float, default=0.9)
    ap.add_argument('--wd', type=float, default=wd)
    ap.add_argument('--schedule', choices=('constant', 'step', 'cosine'), default=schedule)
    ap.add_argument('--warmup', type=int, default=0, help='warm-up epochs')
    ap.add_argument('--milestones', type=lambda v: [int(m) for m in v.split(',')],
                    default=[], help='step schedule: epochs, comma-separated')
    ap.add_argument('--gamma', type=float, default=0.1)
    ap.add_argument('-t', '--threads', type=int, default=threads)
    ap.add_argument('--seed', type=int, default=1, help='fedgrid experiment seed')
    ap.add_argument('--torch-seed', type=int, default=1)
    ap.add_argument('--order', choices=('fedgrid', 'torch'), default='fedgrid')
    ap.add_argument('--no-augment', action='store_true')
    ap.add_argument('--train-limit', type=int, default=0)
    ap.add_argument('--test-limit', type=int, default=0,
                    help='first N test images (fedgrid data.test_limit)')
    ap.add_argument('--channels-last', action='store_true')
    ap.add_argument('--progress', type=int, default=200, help='steps between progress lines')


def fit(model, name, train, test, lut, pad, a):
    """fedctl train's loop: a.epochs epochs of SGD over train = (uint8
    (N,C,H,W), int64 (N)) in fedgrid's batch order with fedgrid's
    augmentation draws (padding pad), the rate of fedgrid_lr per epoch,
    then eval mode on the whole test set; one line per epoch."""
    import torch
    import torch.nn as nn
    import torchvision
    (train_x, train_y), (test_x, test_y) = train, test
    n = len(train_y)
    fmt = torch.channels_last if a.channels_last else torch.contiguous_format
    model = model.to(memory_format=fmt)
    opt = torch.optim.SGD(model.parameters(), lr=a.lr, momentum=a.momentum,
                          weight_decay=a.wd)
    loss_fn = nn.CrossEntropyLoss()
    full, rest = divmod(n, a.batch)
    steps = full + (1 if rest >= 2 or (rest == 1 and full == 0) else 0)
    print('torch %s, torchvision %s, %d thread(s); %s (%d parameters); %d training, '
          '%d test images; batch %d, lr %g (%s), momentum %g, wd %g; order %s; augment %s'
          % (torch.__version__, torchvision.__version__, torch.get_num_threads(), name,
             sum(p.numel() for p in model.parameters()), n, len(test_y), a.batch, a.lr,
             a.schedule, a.momentum, a.wd, a.order,
             'no' if a.no_augment else 'pad %d + flip' % pad), flush=True)

    train_total = test_total = 0.0
    for epoch in range(a.epochs):
        lr = fedgrid_lr(a, epoch)
        for group in opt.param_groups:
            group['lr'] = lr
        model.train()
        start = time.time()
        if a.order == 'fedgrid':
            order = np.array(batch_order(a.seed, epoch, n), dtype=np.int64)
        else:
            order = torch.randperm(n).numpy()
        loss_sum, correct, seen = 0.0, 0, 0
        for step in range(steps):
            idx = order[step * a.batch:(step + 1) * a.batch]
            draws = None if a.no_augment else augment_draws(a.seed, epoch, step, len(idx), pad)
            x = torch.from_numpy(make_batch(train_x, idx, lut, draws, pad)).contiguous(memory_format=fmt)
            y = torch.from_numpy(train_y[idx])
            opt.zero_grad()
            out = model(x)
            loss = loss_fn(out, y)
            loss.backward()
            opt.step()
            if getattr(a, 'step_losses', False):      # as bench/layer_check prints them
                print('epoch %d step %d lr %.6g loss %.6f' % (epoch, step, lr, loss.item()),
                      flush=True)
            loss_sum += loss.item() * len(idx)
            correct += (out.argmax(1) == y).sum().item()
            seen += len(idx)
            if a.progress and (step + 1) % a.progress == 0:
                print('  step %d/%d  loss %.4f  train %.2f%%  %.1f img/s'
                      % (step + 1, steps, loss_sum / seen, 100 * correct / seen,
                         seen / (time.time() - start)), file=sys.stderr, flush=True)
        seconds = time.time() - start
        t0 = time.time()
        t_loss, t_acc = evaluate(model, (test_x, test_y), lut, a)
        t_seconds = time.time() - t0
        print('epoch %d/%d  lr %.6g  loss %.4f  train %.2f%%  test loss %.4f  test %.2f%%  '
              '%.1f img/s  (train %.0f s, test %.0f s)'
              % (epoch + 1, a.epochs, lr, loss_sum / seen, 100 * correct / seen,
                 t_loss, 100 * t_acc, seen / seconds, seconds, t_seconds), flush=True)
        train_total += seconds
        test_total += t_seconds
    # read by bench/whole_process.sh: the compute the process reports
    print('time: training %.3f s, evaluation %.3f s' % (train_total, test_total), flush=True)


def evaluate(model, test, lut, a):
    """(mean cross-entropy, accuracy) of model in eval mode on test =
    (uint8 (N,C,H,W), int64 (N)), a.test_batch images at a time."""
    import torch
    test_x, test_y = test
    fmt = torch.channels_last if a.channels_last else torch.contiguous_format
    model.eval()
    t_loss, t_correct = 0.0, 0
    with torch.inference_mode():
        for i in range(0, len(test_y), a.test_batch):
            idx = np.arange(i, min(i + a.test_batch, len(test_y)))
            x = torch.from_numpy(make_batch(test_x, idx, lut, None)).contiguous(memory_format=fmt)
            y = torch.from_numpy(test_y[idx])
            out = model(x)
            t_loss += torch.nn.functional.cross_entropy(out, y).item() * len(idx)
            t_correct += (out.argmax(1) == y).sum().item()
    return t_loss / len(test_y), t_correct / len(test_y)


# --------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('-d', '--data', default='/work/shared/data/cifar10')
    add_common_args(ap, lr=0.01, wd=0.0, schedule='constant', threads=1)
    ap.add_argument('--check-rng', action='store_true')
    a = ap.parse_args()
    if a.check_rng:
        check_rng()
        return

    import torch
    import torch.nn as nn
    import torchvision
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.torch_seed)

    class Vgg16BnCifar(nn.Module):
        def __init__(self, classes=10):
            super().__init__()
            self.features = torchvision.models.vgg16_bn().features
            self.avgpool = nn.AdaptiveAvgPool2d(1)
            self.classifier = nn.Linear(512, classes)
            nn.init.normal_(self.classifier.weight, 0, 0.01)
            nn.init.constant_(self.classifier.bias, 0)

        def forward(self, x):
            return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))

    (train_x, train_y), test = load_cifar10(a.data)
    if a.train_limit:
        train_x, train_y = train_x[:a.train_limit], train_y[:a.train_limit]
    if a.test_limit:
        test = (test[0][:a.test_limit], test[1][:a.test_limit])
    fit(Vgg16BnCifar(), 'vgg16-bn', (train_x, train_y), test, normalise_lut(), 4, a)


if __name__ == '__main__':
    main()
