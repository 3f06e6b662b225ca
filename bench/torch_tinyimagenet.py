#!/usr/bin/python3
"""torch_tinyimagenet.py — the PyTorch reference for `fedctl train` on
Tiny-ImageNet-200: torchvision's mobilenet_v3_small (num_classes=200) with
fedgrid's recipe, for the accuracy table of docs/datasets.md.

    /usr/bin/python3 bench/torch_tinyimagenet.py
        [-d /work/shared/data/tiny-imagenet-200] [-e epochs] [-b 32]
        [--lr 0.05] [--momentum 0.9] [--wd 5e-4] [--schedule cosine]
        [--warmup W] [--milestones a,b] [--gamma 0.1] [-t 2] [--seed 1]
        [--torch-seed 1] [--order fedgrid|torch] [--no-augment]
        [--train-limit N] [--channels-last] [--test-batch 100]
        [--init init.safetensors] [--eval-only] [--batch-hashes E]

Needs Debian's python3-torch (1.13), python3-torchvision (0.14) and
python3-pil; run with /usr/bin/python3. Nothing in `make check` uses it.
The defaults are fedgrid's defaults (lib/fg_config.c): batch 32, lr 0.05,
momentum 0.9, weight decay 5e-4, cosine over the epochs, augmentation on
(as the quick preset tinyimagenet-mnv3s-quick sets it).
--init starts from the weights of a safetensors file (fedgrid's initial
weights: `bench/layer_check -S seed -i init.safetensors`, the same
fg_model_init as `fedctl train`) instead of torch's own draw; the state is
loaded strictly (only num_batches_tracked may be missing). --eval-only
evaluates the --init weights (e.g. `fedctl train`'s DIR/train/model.safetensors,
BN running statistics included) on the validation images and stops.
--batch-hashes E prints a SHA-256 per training batch of epochs 0..E-1 (the
batches fit () would train on) and stops: `bench/layer_check -D DIR -H E`
prints the same lines from fg_dataset_batch.

What is the same as `fedctl train` (docs/models.md, docs/datasets.md):
- model: torchvision.models.mobilenet_v3_small (num_classes=200) as it is:
  fedgrid's mobilenetv3-small has its block table, BN eps 1e-3 and momentum
  0.01, hard-swish/SE layout, classifier Linear (576, 1024), hard-swish,
  Dropout (0.2), Linear (1024, 200), and torchvision's initialisation
  distributions (kaiming_normal fan_out, BN 1/0, linear N(0, 0.01)); at
  64x64 the last feature map is 2x2. The initial VALUES and the dropout
  masks are torch's own random numbers (fedgrid draws them from fg_rng);
- data: the training images in fedgrid's sample order (classes
  interleaved: sample i is class i mod 200's next file, files in byte order
  of name; label = line of wnids.txt), the validation images with labels
  from val/val_annotations.txt; decoded by PIL (libjpeg-turbo, islow DCT,
  fancy upsampling — the settings of nn/fg_image.c), greyscale expanded to
  RGB; (pixel / 255 - mean) / std with ImageNet's mean (0.485, 0.456,
  0.406) and std (0.229, 0.224, 0.225);
- batches: fedgrid's batch order and augmentation draws (random crop 64
  from the image zero-padded by 8, then horizontal flip), the same bytes
  as fg_dataset_batch (bench/train_torch.py reimplements fg_rng);
- training: SGD with weight decay on every parameter, the rate of
  fg_optim_lr per epoch, mean cross-entropy, the last batch the remainder;
  evaluation in eval mode on all 10,000 validation images.
images/s = training images / wall time of the epoch's training loop
(batch preparation included, evaluation excluded), as fedctl train.
"""

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from train_torch import (MASK, Rng, add_common_args, augment_draws, batch_order,  # noqa: E402
                         evaluate, fit, make_batch, normalise_lut)

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
PAD = 8                         # side / 8, the default branch of fg_dataset


def interleave(per_class):
    """[(label, [file, ...]), ...] -> [(file, label), ...]: round-robin over
    the classes, each class's files in byte order of name; a class with fewer
    files drops out when it runs out."""
    lists = [(label, sorted(files, key=lambda f: os.path.basename(f).encode()))
             for label, files in per_class]
    out, i = [], 0
    while True:
        row = [(files[i], label) for label, files in lists if i < len(files)]
        if not row:
            return out
        out.extend(row)
        i += 1


def load_images(samples):
    from PIL import Image
    x = np.empty((len(samples), 3, 64, 64), dtype=np.uint8)
    y = np.empty(len(samples), dtype=np.int64)
    for i, (path, label) in enumerate(samples):
        with Image.open(path) as im:
            rgb = np.asarray(im.convert('RGB'))
        if rgb.shape != (64, 64, 3):
            sys.exit('%s: %s, not 64x64' % (path, rgb.shape))
        x[i] = rgb.transpose(2, 0, 1)
        y[i] = label
    return x, y


def load_tiny(root, with_train=True):
    with open(os.path.join(root, 'wnids.txt')) as f:
        wnids = [line.strip() for line in f if line.strip()]
    label_of = {w: i for i, w in enumerate(wnids)}
    train = []
    for label, wnid in enumerate(wnids if with_train else []):
        folder = os.path.join(root, 'train', wnid, 'images')
        train.append((label, [os.path.join(folder, f) for f in os.listdir(folder)
                              if f.endswith('.JPEG')]))
    val = {label: [] for label in range(len(wnids))}
    with open(os.path.join(root, 'val', 'val_annotations.txt')) as f:
        for line in f:
            fields = line.rstrip('\n').split('\t')
            if len(fields) >= 2:
                val[label_of[fields[1]]].append(os.path.join(root, 'val', 'images', fields[0]))
    return (load_images(interleave(train)) if with_train else None,
            load_images(interleave(sorted(val.items()))), len(wnids))


def load_safetensors(path):
    """{name: float32 tensor} of a safetensors file (docs/models.md,
    "The weights in PyTorch")."""
    import json
    import struct
    import torch
    with open(path, 'rb') as f:
        data = f.read()
    n = struct.unpack('<Q', data[:8])[0]
    header = json.loads(data[8:8 + n])
    header.pop('__metadata__', None)
    out = {}
    for name, e in header.items():
        if e['dtype'] != 'F32':
            sys.exit('%s: %s is %s, not F32' % (path, name, e['dtype']))
        b, end = e['data_offsets']
        out[name] = torch.frombuffer(bytearray(data[8 + n + b:8 + n + end]),
                                     dtype=torch.float32).reshape(e['shape'])
    return out


def load_init(model, path):
    """Copies the file's tensors into model; every key but
    num_batches_tracked must be there, nothing more."""
    result = model.load_state_dict(load_safetensors(path), strict=False)
    missing = [k for k in result.missing_keys if not k.endswith('num_batches_tracked')]
    if missing or result.unexpected_keys:
        sys.exit('%s: missing %s, unexpected %s' % (path, missing, result.unexpected_keys))


FG_RNG_DROPOUT = 6


def philox_blocks(first, count, key, tag):
    """Words of Philox4x32-10 blocks first .. first+count-1 of a stream
    (train_torch.Rng.u32, vectorised): uint64 array (count, 4)."""
    j = np.arange(first, first + count, dtype=np.uint64)
    c0, c1 = j & np.uint64(MASK), j >> np.uint64(32)
    c2 = np.full(count, tag[0], dtype=np.uint64)
    c3 = np.full(count, tag[1], dtype=np.uint64)
    k0, k1 = key
    for _ in range(10):
        p0 = np.uint64(0xD2511F53) * c0
        p1 = np.uint64(0xCD9E8D57) * c2
        c0, c1, c2, c3 = ((p1 >> np.uint64(32)) ^ c1 ^ np.uint64(k0), p1 & np.uint64(MASK),
                          (p0 >> np.uint64(32)) ^ c3 ^ np.uint64(k1), p0 & np.uint64(MASK))
        k0 = (k0 + 0x9E3779B9) & MASK
        k1 = (k1 + 0xBB67AE85) & MASK
    return np.stack([c0, c1, c2, c3], axis=1)


def fedgrid_dropout_mask(seed, epoch, step, n, width, p):
    """The keep mask (n, width) fg_dropout_forward draws for the model's
    first dropout layer at (seed, round 0, shard 0, epoch, step): word i of
    the FG_RNG_DROPOUT stream from position 0, kept when (word >> 8) * 2^-24
    >= p (float32) (nn/fg_elementwise.c, lib/fg_rng.c)."""
    rng = Rng(seed, FG_RNG_DROPOUT, 0, 0, epoch, step)
    words = n * width
    w = philox_blocks(0, (words + 3) // 4, rng.key, rng.tag).reshape(-1)[:words]
    u = (w >> np.uint64(8)).astype(np.float32) * np.float32(2.0 ** -24)
    return (u >= np.float32(p)).reshape(n, width)


def use_fedgrid_dropout(model, seed, steps_per_epoch):
    """Replaces the classifier's Dropout by one drawing fedgrid's masks:
    training forward k is (epoch, step) = divmod (k, steps_per_epoch), as
    fit () calls it."""
    import torch
    import torch.nn as nn

    class FedgridDropout(nn.Module):
        def __init__(self, p):
            super().__init__()
            self.p, self.calls = p, 0

        def forward(self, x):
            if not self.training:
                return x
            epoch, step = divmod(self.calls, steps_per_epoch)
            self.calls += 1
            mask = fedgrid_dropout_mask(seed, epoch, step, x.shape[0], x.shape[1], self.p)
            return x * torch.from_numpy(mask).to(x.dtype) * (1.0 / (1.0 - self.p))

    drops = [i for i, m in enumerate(model.classifier) if isinstance(m, nn.Dropout)]
    assert len(drops) == 1
    model.classifier[drops[0]] = FedgridDropout(model.classifier[drops[0]].p)


def batch_hashes(train, lut, a):
    """One line per batch, "epoch step n sha256", as `bench/layer_check -D
    DIR -H E` prints it: the hash over the batch's float32 images in
    fedgrid's layout (n, H, W, C) then its labels as u32, for the batches
    fit () trains on (same order, draws and remainder rule)."""
    import hashlib
    x_all, y_all = train
    n = len(y_all)
    full, rest = divmod(n, a.batch)
    steps = full + (1 if rest >= 2 or (rest == 1 and full == 0) else 0)
    for epoch in range(a.batch_hashes):
        order = np.array(batch_order(a.seed, epoch, n), dtype=np.int64)
        for step in range(steps):
            idx = order[step * a.batch:(step + 1) * a.batch]
            draws = augment_draws(a.seed, epoch, step, len(idx), PAD)
            x = make_batch(x_all, idx, lut, draws, PAD).transpose(0, 2, 3, 1)
            h = hashlib.sha256(np.ascontiguousarray(x, dtype='<f4').tobytes())
            h.update(y_all[idx].astype('<u4').tobytes())
            print('%d %d %d %s' % (epoch, step, len(idx), h.hexdigest()), flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('-d', '--data', default='/work/shared/data/tiny-imagenet-200')
    add_common_args(ap, lr=0.05, wd=5e-4, schedule='cosine', threads=2)
    ap.add_argument('--init', help='initial weights (safetensors), e.g. fedgrid\'s')
    ap.add_argument('--eval-only', action='store_true', help='evaluate the --init weights')
    ap.add_argument('--fedgrid-dropout', action='store_true',
                    help='dropout masks from fedgrid\'s FG_RNG_DROPOUT stream, not torch\'s')
    ap.add_argument('--step-losses', action='store_true', help='print every step\'s loss')
    ap.add_argument('--batch-hashes', type=int, default=0, metavar='E',
                    help='print the SHA-256 of every training batch of epochs 0..E-1 and stop')
    a = ap.parse_args()
    if a.batch_hashes:
        train, _, _ = load_tiny(a.data)
        batch_hashes(train, normalise_lut(IMAGENET_MEAN, IMAGENET_STD), a)
        return

    import torch
    import torchvision
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.torch_seed)
    train, test, classes = load_tiny(a.data, with_train=not a.eval_only)
    if a.train_limit and train:
        train = (train[0][:a.train_limit], train[1][:a.train_limit])
    model = torchvision.models.mobilenet_v3_small(num_classes=classes)
    if a.init:
        load_init(model, a.init)
        print('initial weights from %s' % a.init, flush=True)
    if a.eval_only:
        if not a.init:
            sys.exit('--eval-only needs --init')
        loss, acc = evaluate(model, test, normalise_lut(IMAGENET_MEAN, IMAGENET_STD), a)
        print('test loss %.4f  test %.2f%%  (%d images)' % (loss, 100 * acc, len(test[1])))
        return
    if a.fedgrid_dropout:
        use_fedgrid_dropout(model, a.seed, len(train[1]) // a.batch)
        print('dropout masks from fedgrid\'s stream (seed %d)' % a.seed, flush=True)
    fit(model, 'mobilenet_v3_small', train, test,
        normalise_lut(IMAGENET_MEAN, IMAGENET_STD), PAD, a)


if __name__ == '__main__':
    main()
