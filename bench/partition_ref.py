"""partition_ref.py — fedgrid's shards (lib/fg_partition.c) in Python, from
the streams and rules of docs/partitioning.md, for bench/torch_fedavg.py.

Every strategy (stochastic, static, dynamic, hybrid) and distribution (iid,
skew with balance b and m dominant classes, dirichlet alpha). A shard is a
list of distinct training-sample indices, ascending. Rounds are the
coordinator's: round 1 is the first trained round; static uses partition
key 0, dynamic key r, hybrid is the static partition at round 0 and then one
keep-and-redraw step per round. tests/test_torch_fedavg.sh compares every
strategy x distribution with `fedctl debug shards` (the library's own).

The random streams are bench/train_torch.py's fg_rng (Rng); the draws that
only the partition uses (64-bit words, doubles, normals, gamma) are added
here as functions of an Rng, in lib/fg_rng.c's order of operations.
"""

import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from train_torch import Rng  # noqa: E402

FG_RNG_PARTITION = 2
FG_RNG_SAMPLE = 3
FG_RNG_DIRICHLET = 8
FG_RNG_SKEW = 9
STRATEGIES = ('stochastic', 'static', 'dynamic', 'hybrid')
DISTRIBUTIONS = ('iid', 'skew', 'dirichlet')
TAKEN, PREVIOUS = 1, 2


# --------------------------------------------------------------------------
# fg_rng's distributions (lib/fg_rng.c)

def shuffle(rng, items, lo=0, hi=None):
    """fg_rng_shuffle of items[lo:hi] in place: Fisher-Yates from the top."""
    hi = len(items) if hi is None else hi
    for i in range(hi - lo, 1, -1):
        j = rng.below(i)
        items[lo + i - 1], items[lo + j] = items[lo + j], items[lo + i - 1]


def uniform_double(rng):
    lo = rng.u32()
    hi = rng.u32()
    return ((lo | (hi << 32)) >> 11) * 2.0 ** -53


def normal(rng):
    u1 = 1.0 - uniform_double(rng)
    u2 = uniform_double(rng)
    return math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * u2)


def gamma(rng, shape):
    """fg_rng_gamma: Marsaglia-Tsang; shape < 1 by Gamma(a + 1) U^(1/a)."""
    if shape < 1.0:
        u = 1.0 - uniform_double(rng)
        return gamma(rng, shape + 1.0) * math.pow(u, 1.0 / shape)
    d = shape - 1.0 / 3.0
    c = 1.0 / math.sqrt(9.0 * d)
    while True:
        x = normal(rng)
        v = 1.0 + c * x
        if v <= 0:
            continue
        v = v * v * v
        u = 1.0 - uniform_double(rng)
        if math.log(u) < 0.5 * x * x + d - d * v + d * math.log(v):
            return d * v


def split(weights, total):
    """Largest remainder of total over weights (s_split): floor shares, then
    one more for the largest fractional parts, ties to the lower index."""
    n = len(weights)
    wsum = 0.0
    for w in weights:
        wsum += w
    out, rem, given = [], [], 0
    for i, w in enumerate(weights):
        x = float(total) * (w / wsum)
        f = min(math.floor(x), float(total))
        out.append(int(f))
        rem.append((-(x - f), i))
        given += int(f)
    rem.sort()
    i = 0
    while given < total:
        if weights[rem[i][1]] > 0:
            out[rem[i][1]] += 1
            given += 1
        i = (i + 1) % n
    i = n
    while given > total:
        i = (n if i == 0 else i) - 1
        if out[rem[i][1]] > 0:
            out[rem[i][1]] -= 1
            given -= 1
    return out


def round_share(x, n):
    """round (x * n), half up, clamped to 0..n."""
    v = math.floor(x * n + 0.5)
    return int(min(max(v, 0), n))


# --------------------------------------------------------------------------

class Partition:
    """labels: one class index per training sample; p: the [data] keys
    strategy, distribution, balance, dominant_classes, alpha, keep_fraction
    and nodes, seed (a dict)."""

    def __init__(self, labels, classes, p):
        if p['strategy'] not in STRATEGIES or p['distribution'] not in DISTRIBUTIONS:
            raise ValueError('unknown strategy or distribution: %s' % p)
        self.labels = [int(v) for v in labels]
        self.D, self.K, self.C = len(self.labels), classes, int(p['nodes'])
        if not 1 <= self.C <= self.D:
            raise ValueError('nodes %d: not in 1 .. %d' % (self.C, self.D))
        self.p = p
        self.seed = int(p['seed'])
        self.members = [[] for _ in range(classes)]       # ascending per class
        for i, c in enumerate(self.labels):
            self.members[c].append(i)
        self.skew = p['distribution'] == 'skew'
        self.m = 0
        if self.skew:
            m = int(p['dominant_classes'])
            if m == 0:
                m = min(max(1, (classes + self.C - 1) // self.C), classes - 1)
            self.m = m
            self.order = Rng(self.seed, FG_RNG_SKEW, 0, 0, 0, 0).permutation(classes)
            self.pos = [0] * classes
            for i, c in enumerate(self.order):
                self.pos[c] = i
        self.cache = {}

    # sizes, dominant classes, targets --------------------------------------

    def size(self, s):
        return self.D // self.C + (1 if s < self.D % self.C else 0)

    def dominant(self, s, j):
        return self.order[(s * self.m + j) % self.K]

    def is_dominant(self, s, c):
        if not self.skew:
            return False
        return (self.pos[c] + self.K - (s * self.m) % self.K) % self.K < self.m

    def dominant_target(self, d, j):
        n = round_share(self.p['balance'], d)
        return n // self.m + (1 if j < n % self.m else 0)

    def dirichlet_targets(self, s):
        rng = Rng(self.seed, FG_RNG_DIRICHLET, 0, s, 0, 0)
        g, gsum, nonempty = [0.0] * self.K, 0.0, 0
        for c in range(self.K):
            nc = len(self.members[c])
            if nc:
                shape = self.p['alpha'] * float(self.K) * float(nc) / float(self.D)
                g[c] = gamma(rng, shape)
                gsum += g[c]
                nonempty += 1
        if not (gsum > 0) or not math.isfinite(gsum):
            pick = rng.below(nonempty)
            for c in range(self.K):
                g[c] = 0.0
                if self.members[c]:
                    if pick == 0:
                        g[c] = 1.0
                    pick -= 1
        return split(g, self.size(s))

    # disjoint partitions (static, dynamic, hybrid round 0) -----------------

    def demands(self):
        """Step A: [class, shard, want] sorted by class then shard."""
        out = []
        for s in range(self.C):
            if self.skew:
                for j in range(self.m):
                    want = self.dominant_target(self.size(s), j)
                    if want:
                        out.append([self.dominant(s, j), s, want])
            elif self.p['distribution'] == 'dirichlet':
                for c, t in enumerate(self.dirichlet_targets(s)):
                    if t:
                        out.append([c, s, t])
        out.sort(key=lambda e: (e[0], e[1]))
        return out

    @staticmethod
    def grant(run, avail):
        """s_grant: all wants if they fit, else avail split in proportion
        (integer largest remainder, ties to the lower shard)."""
        total = sum(e[2] for e in run)
        if total <= avail:
            return
        rem, given = [], 0
        for i, e in enumerate(run):
            x = e[2] * avail
            rem.append((-(x % total), i))
            e[2] = x // total
            given += e[2]
        rem.sort()
        i = 0
        while given < avail:
            run[rem[i][1]][2] += 1
            i += 1
            given += 1

    def disjoint(self, key):
        if key in self.cache:
            return self.cache[key]
        rng = Rng(self.seed, FG_RNG_PARTITION, key, 0, 0, 0)
        shuffled = [x for c in range(self.K) for x in self.members[c]]
        start = [0] * (self.K + 1)
        for c in range(self.K):
            start[c + 1] = start[c] + len(self.members[c])
            shuffle(rng, shuffled, start[c], start[c + 1])
        part = [[] for _ in range(self.C)]
        taken = [0] * self.K
        # step A
        dem = self.demands()
        i = 0
        while i < len(dem):
            j = i
            while j < len(dem) and dem[j][0] == dem[i][0]:
                j += 1
            c = dem[i][0]
            self.grant(dem[i:j], start[c + 1] - start[c])
            for _, s, want in dem[i:j]:
                part[s].extend(shuffled[start[c] + taken[c]:start[c] + taken[c] + want])
                taken[c] += want
            i = j
        a_end = [len(part[s]) for s in range(self.C)]
        # step B
        pool = [shuffled[start[c] + k] for c in range(self.K)
                for k in range(taken[c], start[c + 1] - start[c])]
        shuffle(rng, pool)
        fifo, nxt, lab = [], 0, self.labels
        for s in range(self.C):
            need = self.size(s) - len(part[s])
            kept = []
            for x in fifo:
                if need and not self.is_dominant(s, lab[x]):
                    part[s].append(x)
                    need -= 1
                else:
                    kept.append(x)
            fifo = kept
            while need and nxt < len(pool):
                x = pool[nxt]
                nxt += 1
                if self.is_dominant(s, lab[x]):
                    fifo.append(x)
                else:
                    part[s].append(x)
                    need -= 1
        self.leftovers(part, a_end, fifo)
        for s in range(self.C):
            if len(part[s]) != self.size(s):
                raise RuntimeError('partition key %d: shard %d has %d of %d'
                                   % (key, s, len(part[s]), self.size(s)))
            part[s].sort()
        self.cache = {key: part}
        return part

    def leftovers(self, part, a_end, fifo):
        """Step 4: the FIFO's samples to shards still short, exchanging a
        sample of the short shard's own dominant class for a step-B sample
        of another shard that may take it."""
        lab = self.labels
        for s in range(self.C):
            if not fifo:
                break
            while len(part[s]) < self.size(s) and fifo:
                k = next((k for k, x in enumerate(fifo) if not self.is_dominant(s, lab[x])), None)
                if k is not None:
                    x = fifo[k]
                else:
                    k, x = 0, fifo[0]
                    swapped = False
                    for t in range(self.C):
                        if swapped:
                            break
                        if t == s or self.is_dominant(t, lab[x]):
                            continue
                        for q in range(a_end[t], len(part[t])):
                            if not self.is_dominant(s, lab[part[t][q]]):
                                part[t][q], x = x, part[t][q]
                                swapped = True
                                break
                part[s].append(x)
                del fifo[k]

    # one shard drawn on its own (stochastic; hybrid rounds >= 1) -----------

    def draw(self, rng, mark, flag, cls, with_previous, n, out):
        """s_draw: the first n positions of a forward Fisher-Yates over the
        candidates, class by class in ascending index order."""
        if n == 0:
            return 0
        skip = TAKEN if with_previous else TAKEN | PREVIOUS
        classes = cls if cls is not None else [c for c in range(self.K) if not flag[c]]
        cand = [x for c in classes for x in self.members[c] if not mark[x] & skip]
        take = min(n, len(cand))
        for i in range(take):
            j = i + rng.below(len(cand) - i)
            cand[i], cand[j] = cand[j], cand[i]
            mark[cand[i]] |= TAKEN
            out.append(cand[i])
        return take

    def draw2(self, rng, mark, flag, cls, n, out):
        got = self.draw(rng, mark, flag, cls, False, n, out)
        self.draw(rng, mark, flag, cls, True, n - got, out)

    def build_one(self, rnd, s, prev=None):
        d = self.size(s)
        rng = Rng(self.seed, FG_RNG_SAMPLE, rnd, s, 0, 0)
        mark = bytearray(self.D)
        kept = [0] * self.K
        flag = [0] * self.K
        out = []
        if prev is not None:
            prev = sorted(prev)
            for x in prev:
                mark[x] = PREVIOUS
            for i in range(round_share(self.p['keep_fraction'], d)):
                j = i + rng.below(len(prev) - i)
                prev[i], prev[j] = prev[j], prev[i]
                mark[prev[i]] |= TAKEN
                kept[self.labels[prev[i]]] += 1
                out.append(prev[i])
        if self.skew:
            dom = [self.dominant(s, j) for j in range(self.m)]
            for c in dom:
                flag[c] = 1
            for j, c in enumerate(dom):
                want = min(max(self.dominant_target(d, j) - kept[c], 0), d - len(out))
                self.draw2(rng, mark, flag, [c], want, out)
            self.draw2(rng, mark, flag, None, d - len(out), out)
            flag = [0] * self.K
        elif self.p['distribution'] == 'dirichlet':
            for c, t in enumerate(self.dirichlet_targets(s)):
                want = min(max(t - kept[c], 0), d - len(out))
                self.draw2(rng, mark, flag, [c], want, out)
        self.draw2(rng, mark, flag, None, d - len(out), out)
        out.sort()
        return out

    # public -----------------------------------------------------------------

    def round(self, rnd, prev=None):
        """The C shards of round rnd. Hybrid: prev is round rnd-1's shards
        (None: rebuilt from round 0)."""
        strategy = self.p['strategy']
        if strategy == 'stochastic':
            return [self.build_one(rnd, s) for s in range(self.C)]
        if strategy == 'static' or (strategy == 'hybrid' and rnd == 0):
            return [list(x) for x in self.disjoint(0)]
        if strategy == 'dynamic':
            return [list(x) for x in self.disjoint(rnd)]
        if prev is None:
            prev = self.round(0)
            for r in range(1, rnd):
                prev = self.round(r, prev)
        return [self.build_one(rnd, s, prev[s]) for s in range(self.C)]
