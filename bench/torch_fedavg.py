#!/usr/bin/python3
"""torch_fedavg.py — a PyTorch FedAvg reference for a fedgrid experiment:
the same shards, batches, hyper-parameters and initial weights, trained by
torch, with the test accuracy per round.

    /usr/bin/python3 bench/torch_fedavg.py DIR [--fedctl PATH] [--set k=v ...]
        [--rounds N] [-t threads] [--compare] [--csv FILE]
        [--save-round R FILE.safetensors]
    /usr/bin/python3 bench/torch_fedavg.py DIR --shards R[,R...]   (partition only)

DIR is a fedgrid experiment folder. Its configuration is read from
`fedctl config check DIR` (the canonical TOML, --set applied) and the
initial weights from `fedctl export DIR --round 0` (fg_model_init from
experiment.seed), so both sides start from the same floats. --compare puts
fedgrid's DIR/rounds.csv next to each round. --shards R prints round R's
shards in the format of `fedctl debug shards DIR R` and exits (several
rounds: their outputs one after the other). --save-round R FILE writes the
global weights after round R (safetensors, torch's names), --save-all
FOLDER every round's. --perturb is for
tests/test_torch_fedavg.sh only (it breaks the sameness on purpose).

Needs Debian's python3-torch (1.13) and python3-numpy; run with
/usr/bin/python3. Datasets: fashion-mnist, mnist (IDX, gzip or not) and
cifar10 (binary version); models cnn-small and vgg16-bn.

What is the same as fedgrid (docs/partitioning.md, docs/aggregation.md,
nn/fg_unit.h):
- shards: bench/partition_ref.py, every strategy and distribution, round r
  of the coordinator (the first trained round is 1);
- a unit (round r, shard s): the shard's indices ascending; epoch e visits
  them in the order of fg_rng (seed, BATCH, r, s, e, 0); batch b of epoch e
  augmented with the draws of (seed, AUGMENT, r, s, e, b) (crop from the
  zero-padded image, pad 4 CIFAR, 2 MNIST family, then the flip; not for
  MNIST); a trailing batch of one image skipped; fresh SGD (momentum buffer
  zero) at the rate fg_optim_lr gives round r-1 (schedule over rounds),
  weight decay on every parameter, mean cross-entropy, train mode;
- FedAvg: in float64, accumulated over shards in ascending order, weights
  = samples trained per epoch (the shard less a skipped single image);
  parameters g + server_lr * A, BN running statistics g + A, rounded to
  float32 once;
- evaluation: eval mode on the test set (data.test_limit) after each round.
What differs: the arithmetic is torch's (oneDNN/MKL-free CPU kernels, other
summation orders), so the weights drift apart by float rounding from the
first step on, and the runs are two samples of the same procedure, not the
same bits. Not supported (refused): aggregation rules other than fedavg,
clipping, server momentum, the deadline policy, dropout models.
"""

import argparse
import math
import os
import subprocess
import sys
import time
import tomllib
import types

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, '..', 'tests', 'ref'))
from partition_ref import Partition  # noqa: E402
from train_torch import (augment_draws, batch_order, fedgrid_lr,  # noqa: E402
                         load_cifar10, make_batch, normalise_lut)

DATASETS = {            # classes, pad, flip, published mean, std (nn/fg_dataset.c)
    'fashion-mnist': (10, 2, True, (0.2860,), (0.3530,)),
    'mnist': (10, 2, False, (0.1307,), (0.3081,)),
    'cifar10': (10, 4, True, (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
}


def fedctl_output(fedctl, args):
    run = subprocess.run([fedctl] + args, capture_output=True, text=True)
    if run.returncode:
        sys.exit('%s %s: %s' % (fedctl, ' '.join(args), run.stderr.strip()))
    return run.stdout


def load_config(fedctl, folder, sets):
    cfg = tomllib.loads(fedctl_output(fedctl, ['config', 'check', folder] + sets))
    a, d, t = cfg['aggregation'], cfg['data'], cfg['training']
    refuse = [(a['rule'] != 'fedavg', 'aggregation.rule = %s' % a['rule']),
              (a['clip_norm'] != 0, 'aggregation.clip_norm'),
              (a['server_momentum'] != 0, 'aggregation.server_momentum'),
              (cfg['experiment']['policy'] != 'exact', 'experiment.policy'),
              (d['dataset'] not in DATASETS, 'data.dataset = %s' % d['dataset']),
              (cfg['model']['name'] not in ('cnn-small', 'vgg16-bn'),
               'model.name = %s' % cfg['model']['name'])]
    for bad, what in refuse:
        if bad:
            sys.exit('torch_fedavg: %s is not supported' % what)
    if not os.path.isabs(d['path']):
        d['path'] = os.path.join(folder, d['path'])
    if t['schedule'] == 'step':
        for m in t['milestones']:
            if m != int(m):
                sys.exit('torch_fedavg: milestones must be whole rounds')
    return cfg


def read_idx(folder, name):
    import gzip
    for candidate in (name + '.gz', name):
        path = os.path.join(folder, candidate)
        if os.path.exists(path):
            opener = gzip.open if candidate.endswith('.gz') else open
            with opener(path, 'rb') as f:
                raw = f.read()
            dims = raw[3]
            shape = tuple(int.from_bytes(raw[4 + 4 * i:8 + 4 * i], 'big') for i in range(dims))
            return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)
    sys.exit('no %s in %s' % (name, folder))


def load_data(cfg):
    """((train uint8 N,C,H,W, labels int64), (test ...)) with the limits."""
    d = cfg['data']
    if d['dataset'] == 'cifar10':
        train, test = load_cifar10(d['path'])
    else:
        def split(prefix):
            x = read_idx(d['path'], prefix + '-images-idx3-ubyte')
            y = read_idx(d['path'], prefix + '-labels-idx1-ubyte').astype(np.int64)
            return x.reshape(-1, 1, x.shape[1], x.shape[2]), y
        train, test = split('train'), split('t10k')
    cut = lambda xy, n: (xy[0][:n], xy[1][:n]) if n else xy  # noqa: E731
    return cut(train, d['train_limit']), cut(test, d['test_limit'])


def partition_of(cfg, labels):
    d = cfg['data']
    p = dict(strategy=d['strategy'], distribution=d['distribution'], balance=d['balance'],
             dominant_classes=d['dominant_classes'], alpha=d['alpha'],
             keep_fraction=d['keep_fraction'], nodes=cfg['grid']['nodes'],
             seed=cfg['experiment']['seed'])
    return Partition(labels, DATASETS[d['dataset']][0], p)


def load_safetensors(path):
    import torch
    from torch_eval import load_safetensors as load
    meta, tensors = load(path)
    return meta, {k: v.clone() for k, v in tensors.items()}


class Unit:
    """One work unit's training loop (nn/fg_unit.c) on a torch model."""

    def __init__(self, cfg, train, lut, perturb=None):
        self.cfg, self.train, self.lut, self.perturb = cfg, train, lut, perturb
        info = DATASETS[cfg['data']['dataset']]
        self.pad, self.flip = info[1], info[2]

    def steps(self, n):
        b = self.cfg['training']['batch_size']
        full, rest = divmod(n, b)
        return full + (1 if rest >= 2 or (rest == 1 and full == 0) else 0)

    def samples(self, n):
        return n - 1 if n % self.cfg['training']['batch_size'] == 1 and n > 1 else n

    def run(self, model, rnd, shard, indices, lr):
        """Trains model in place; returns the mean loss of the last epoch."""
        import torch
        t, seed = self.cfg['training'], self.cfg['experiment']['seed']
        b = t['batch_size']
        opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=t['momentum'],
                              weight_decay=t['weight_decay'], nesterov=t['nesterov'])
        loss_fn = torch.nn.CrossEntropyLoss()
        train_x, train_y = self.train
        indices = np.asarray(indices, dtype=np.int64)
        model.train()
        for epoch in range(t['local_epochs']):
            e_order = epoch + (self.perturb == 'order')
            e_augment = epoch + (self.perturb == 'augment')
            order = np.asarray(batch_order(seed, e_order, len(indices), rnd, shard), dtype=np.int64)
            loss_sum, seen = 0.0, 0
            for step in range(self.steps(len(indices))):
                idx = indices[order[step * b:(step + 1) * b]]
                draws = None
                if self.cfg['data']['augment']:
                    draws = augment_draws(seed, e_augment, step, len(idx), self.pad, rnd, shard)
                    if not self.flip:
                        draws = [(top, left, 0) for top, left, _ in draws]
                x = torch.from_numpy(make_batch(train_x, idx, self.lut, draws, self.pad))
                y = torch.from_numpy(train_y[idx])
                opt.zero_grad()
                loss = loss_fn(model(x), y)
                loss.backward()
                opt.step()
                loss_sum += loss.item() * len(idx)
                seen += len(idx)
        return loss_sum / max(seen, 1)


def evaluate(model, test, lut, batch):
    import torch
    model.eval()
    loss_fn = torch.nn.CrossEntropyLoss(reduction='sum')
    x_all, y_all = test
    loss, right = 0.0, 0
    with torch.inference_mode():
        for i in range(0, len(y_all), batch):
            x = torch.from_numpy(make_batch(x_all, np.arange(i, min(i + batch, len(y_all))), lut, None))
            y = torch.from_numpy(y_all[i:i + batch])
            out = model(x)
            loss += loss_fn(out, y).item()
            right += (out.argmax(1) == y).sum().item()
    return right / len(y_all), loss / len(y_all)


def fedavg(global_sd, updates, server_lr, buffers):
    """docs/aggregation.md: acc = sum n_s (u_s - g) in shard order, in
    float64; parameters g + server_lr * acc / N, buffers g + acc / N."""
    import torch
    total = float(sum(n for n, _ in updates))
    new = {}
    for name, g in global_sd.items():
        g64 = g.double()
        acc = torch.zeros_like(g64)
        for n, u in updates:
            acc += float(n) * (u[name].double() - g64)
        rate = 1.0 if name in buffers else server_lr
        new[name] = (g64 + rate * (acc / total)).float()
    return new


def fedgrid_rounds(folder):
    path = os.path.join(folder, 'rounds.csv')
    rows = {}
    if os.path.exists(path):
        with open(path) as f:
            head = f.readline().strip().split(',')
            for line in f:
                v = dict(zip(head, line.strip().split(',')))
                rows[int(v['round'])] = float(v['test_accuracy'])
    return rows


def lr_of_round(cfg, rnd):
    t = cfg['training']
    a = types.SimpleNamespace(lr=t['lr'], schedule=t['schedule'], warmup=t['warmup_epochs'],
                              milestones=[int(m) for m in t['milestones']], gamma=t['gamma'],
                              epochs=cfg['experiment']['rounds'])
    return fedgrid_lr(a, rnd - 1)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('dir')
    ap.add_argument('--fedctl', default=os.environ.get('FEDCTL', 'fedctl'))
    ap.add_argument('--set', action='append', default=[], metavar='section.key=value')
    ap.add_argument('--rounds', type=int, default=0, help='stop after N rounds')
    ap.add_argument('-t', '--threads', type=int, default=1)
    ap.add_argument('--shards', metavar='R[,R...]',
                    help='print these rounds\' shards as `fedctl debug shards` does, one '
                         'round after the other, and exit')
    ap.add_argument('--compare', action='store_true')
    ap.add_argument('--csv', help='write round,test_accuracy,test_loss,train_loss,seconds')
    ap.add_argument('--save-round', nargs=2, metavar=('R', 'FILE'))
    ap.add_argument('--save-all', metavar='FOLDER',
                    help='write every round\'s weights as FOLDER/round-R.safetensors')
    ap.add_argument('--perturb', choices=('order', 'augment'),
                    help='tests only: draw the batch order (or augmentation) of epoch e '
                         'from the stream of epoch e + 1, to show the weight check sees it')
    a = ap.parse_args()
    sets = [x for s in a.set for x in ('--set', s)]
    cfg = load_config(a.fedctl, a.dir, sets)
    train, test = load_data(cfg)
    part = partition_of(cfg, train[1])
    if a.shards:
        prev, last = None, 0
        for rnd in sorted(int(r) for r in a.shards.split(',')):
            prev = part.round(rnd, prev if rnd == last + 1 else None)
            last = rnd
            for s, shard in enumerate(prev):
                print('%d %d %s' % (s, len(shard), ' '.join(map(str, shard))))
        return

    import torch
    from bench_torch import build
    torch.set_num_threads(a.threads)
    name = cfg['model']['name']
    model = build(name, DATASETS[cfg['data']['dataset']][0])
    init = os.path.join(a.dir, 'torch_fedavg_init.safetensors')
    fedctl_output(a.fedctl, ['export', a.dir, '--round', '0', '-o', init] + sets)
    meta, global_sd = load_safetensors(init)
    os.unlink(init)
    missing, unexpected = model.load_state_dict(global_sd, strict=False)
    if unexpected or any(not k.endswith('num_batches_tracked') for k in missing):
        sys.exit('initial weights do not fit %s: missing %s, unexpected %s'
                 % (name, missing, unexpected))
    buffers = {k for k in global_sd if k.endswith('running_mean') or k.endswith('running_var')}
    info = DATASETS[cfg['data']['dataset']]
    lut = normalise_lut(info[3], info[4])
    unit = Unit(cfg, train, lut, a.perturb)
    rounds = a.rounds or cfg['experiment']['rounds']
    d, t = cfg['data'], cfg['training']
    print('torch %s, %d thread(s); %s on %s (%d train, %d test); %d nodes, %s/%s '
          '(balance %g), %d rounds x %d local epochs, batch %d, lr %g %s, momentum %g, '
          'wd %g, augment %s; initial weights %s'
          % (torch.__version__, torch.get_num_threads(), name, d['dataset'], len(train[1]),
             len(test[1]), cfg['grid']['nodes'], d['strategy'], d['distribution'],
             d['balance'], rounds, t['local_epochs'], t['batch_size'], t['lr'],
             t['schedule'], t['momentum'], t['weight_decay'], d['augment'],
             meta.get('weights_sha256', '?')[:16]), flush=True)
    csv = open(a.csv, 'w') if a.csv else None
    if csv:
        csv.write('round,test_accuracy,test_loss,train_loss,seconds\n')
    shards = None
    for rnd in range(1, rounds + 1):
        start = time.time()
        shards = part.round(rnd, shards)
        lr = lr_of_round(cfg, rnd)
        updates, losses = [], []
        for s, indices in enumerate(shards):
            model.load_state_dict(global_sd, strict=False)
            losses.append((unit.samples(len(indices)), unit.run(model, rnd, s, indices, lr)))
            updates.append((unit.samples(len(indices)),
                            {k: v.detach().clone() for k, v in model.state_dict().items()
                             if k in global_sd}))
        global_sd = fedavg(global_sd, updates, cfg['aggregation']['server_lr'], buffers)
        model.load_state_dict(global_sd, strict=False)
        acc, loss = evaluate(model, test, lut, t['test_batch_size'])
        train_loss = sum(n * l for n, l in losses) / sum(n for n, _ in losses)
        seconds = time.time() - start
        line = ('round %d  lr %.6g  train loss %.4f  test loss %.4f  test %.2f%%  (%.0f s)'
                % (rnd, lr, train_loss, loss, 100 * acc, seconds))
        theirs = fedgrid_rounds(a.dir) if a.compare else {}    # (it may be running)
        if rnd in theirs:
            line += '  fedgrid %.2f%%  diff %+.2f' % (100 * theirs[rnd], 100 * (acc - theirs[rnd]))
        print(line, flush=True)
        if csv:
            csv.write('%d,%.6f,%.6f,%.6f,%.1f\n' % (rnd, acc, loss, train_loss, seconds))
            csv.flush()
        if a.save_round and int(a.save_round[0]) == rnd:
            save_weights(a.save_round[1], global_sd)
        if a.save_all:
            os.makedirs(a.save_all, exist_ok=True)
            save_weights(os.path.join(a.save_all, 'round-%d.safetensors' % rnd), global_sd)


def save_weights(path, sd):
    """A safetensors file of float32 tensors (no metadata), in sd's order."""
    import json
    import struct
    header, body, at = {}, [], 0
    for name, v in sd.items():
        raw = v.contiguous().numpy().astype('<f4').tobytes()
        header[name] = {'dtype': 'F32', 'shape': list(v.shape), 'data_offsets': [at, at + len(raw)]}
        body.append(raw)
        at += len(raw)
    text = json.dumps(header).encode()
    text += b' ' * (-len(text) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(text)) + text + b''.join(body))


if __name__ == '__main__':
    main()
