#!/usr/bin/python3
"""bench_torch.py — the PyTorch reference for bench/bench_nn: the same
models, batches, thread counts and method, the same table.

    /usr/bin/python3 bench/bench_torch.py [-m model[,model...]] [-b 10,32]
        [-t 1,2] [-r reps] [-s seconds] [-w warmup]
        [-f best|contiguous|channels_last] [--peak GF1,GF2] [-q max_wait] [-L [-E]]
        [--no-onednn-peak | --onednn-peak-only]
-L prints torch.profiler's table of `reps` training steps instead (-E: of
`reps` inference steps, as the inference column runs them).

Needs Debian's python3-torch (1.13) and, for MobileNetV3,
python3-torchvision (else the models are skipped with a note). Nothing in
`make check` depends on it.

Models (as bench_nn): cnn-small 28x28x1 10 classes (conv3x3 32, ReLU,
maxpool2, conv3x3 64, ReLU, maxpool2, linear 1600->128, ReLU, linear
128->10); vgg16-bn 32x32x3 10 classes in fedgrid's CIFAR form (torchvision
vgg16_bn `features`, a global average pool, classifier = Linear(512, 10),
the state_dict names of nn/fg_model.c); torchvision mobilenet_v3_small /
_large (num_classes=200) at 64x64x3.

Method (as bench_nn). Every (model, batch, threads, memory format) runs in
its own child process (peak RSS from wait4: the interpreter and torch
itself included, as they are part of what a torch trainer costs).
Training step = zero_grad, forward (train mode), cross-entropy, backward,
SGD(lr 0.01, momentum 0.9, weight decay 5e-4) step. Inference = eval mode
under torch.inference_mode (), forward and loss. After `warmup` steps one
step is timed to size a repetition to >= `seconds`; the median over `reps`
repetitions of images/s is printed. others% is the CPU share other
processes (and VM steal) took during the run (the worst of the formats'
children): the row's noise indicator. -q waits for an idle machine first. Forward FLOPs: 2 * MACs of Conv2d and
Linear layers, counted with forward hooks; training is taken as 3x.

Memory format: with -f best (default) both NCHW-contiguous and
channels_last are measured and the faster is reported for training and
inference separately; the `fmt` column says which (train/infer: nchw or
cl), and rss_MB is the training format's child.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

MODELS = {
    "cnn-small": (10, 28, 28, 1),
    "vgg16-bn": (10, 32, 32, 3),
    "mobilenetv3-small": (200, 64, 64, 3),
    "mobilenetv3-large": (200, 64, 64, 3),
}


def build(name, classes):
    import torch.nn as nn
    if name == "cnn-small":
        class CnnSmall(nn.Module):
            def __init__(self):
                super().__init__()
                self.features = nn.Sequential(
                    nn.Conv2d(1, 32, 3), nn.ReLU(inplace=True), nn.MaxPool2d(2),
                    nn.Conv2d(32, 64, 3), nn.ReLU(inplace=True), nn.MaxPool2d(2))
                self.classifier = nn.Sequential(
                    nn.Linear(1600, 128), nn.ReLU(inplace=True), nn.Linear(128, classes))

            def forward(self, x):
                return self.classifier(self.features(x).flatten(1))
        return CnnSmall()
    if name == "vgg16-bn":
        cfg = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M",
               512, 512, 512, "M", 512, 512, 512, "M"]
        layers, cin = [], 3
        for v in cfg:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(cin, v, 3, padding=1), nn.BatchNorm2d(v),
                           nn.ReLU(inplace=True)]
                cin = v

        class Vgg16Bn(nn.Module):
            def __init__(self):
                super().__init__()
                self.features = nn.Sequential(*layers)
                self.avgpool = nn.AdaptiveAvgPool2d(1)
                self.classifier = nn.Linear(512, classes)

            def forward(self, x):
                return self.classifier(self.avgpool(self.features(x)).flatten(1))
        return Vgg16Bn()
    import torchvision
    if name == "mobilenetv3-small":
        return torchvision.models.mobilenet_v3_small(num_classes=classes)
    if name == "mobilenetv3-large":
        return torchvision.models.mobilenet_v3_large(num_classes=classes)
    raise ValueError(name)


def forward_flop(model, shape):
    """2 * MACs of Conv2d and Linear per image (forward)."""
    import torch
    import torch.nn as nn
    total = [0]

    def conv_hook(mod, inp, out):
        kh, kw = mod.kernel_size
        total[0] += 2 * out[0].numel() * (mod.in_channels // mod.groups) * kh * kw

    def linear_hook(mod, inp, out):
        total[0] += 2 * mod.in_features * mod.out_features

    hooks = []
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            hooks.append(m.register_forward_hook(conv_hook))
        elif isinstance(m, nn.Linear):
            hooks.append(m.register_forward_hook(linear_hook))
    model.eval()
    with torch.no_grad():
        model(torch.zeros(1, *shape))
    for h in hooks:
        h.remove()
    return total[0]


def timed(step, warmup, seconds, reps, batch):
    for _ in range(warmup):
        step()
    t0 = time.perf_counter()
    step()
    one = time.perf_counter() - t0
    steps = int(seconds / one) + 1
    rates = []
    for _ in range(reps):
        t0 = time.perf_counter()
        for _ in range(steps):
            step()
        rates.append(steps * batch / (time.perf_counter() - t0))
    return statistics.median(rates)


def onednn_peak(threads):
    """GFLOPS of one big 3x3 convolution in oneDNN (channels_last, 256 -> 256
    channels, 8 images of 32x32, pad 1: 9.66 GFLOP), median of 4 after a
    warm-up: what this core does with torch's JIT kernels, for context next to
    bench_nn's BLIS sgemm peak."""
    import torch
    import torch.nn.functional as F
    torch.set_num_threads(threads)
    x = torch.rand(8, 256, 32, 32).contiguous(memory_format=torch.channels_last)
    w = torch.rand(256, 256, 3, 3).contiguous(memory_format=torch.channels_last)
    times = []
    with torch.no_grad():
        for i in range(5):
            t0 = time.perf_counter()
            F.conv2d(x, w, padding=1)
            if i:
                times.append(time.perf_counter() - t0)
    return 2.0 * 8 * 32 * 32 * 256 * 256 * 9 / statistics.median(times) / 1e9


def run_one(name, batch, threads, fmt, reps, warmup, seconds):
    import torch
    import torch.nn.functional as F
    if name == "peak":
        return {"train": onednn_peak(threads), "infer": 0, "flop": 0, "params": 0}
    torch.set_num_threads(threads)
    torch.manual_seed(1)
    classes, h, w, c = MODELS[name]
    model = build(name, classes)
    params = sum(p.numel() for p in model.parameters())
    flop = forward_flop(model, (c, h, w))
    memory_format = torch.channels_last if fmt == "cl" else torch.contiguous_format
    model = model.to(memory_format=memory_format)
    x = (torch.rand(batch, c, h, w) * 2 - 1).contiguous(memory_format=memory_format)
    y = torch.randint(0, classes, (batch,))
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)

    def train_step():
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()

    def infer_step():
        with torch.inference_mode():
            F.cross_entropy(model(x), y)

    model.train()
    train = timed(train_step, warmup, seconds, reps, batch)
    model.eval()
    infer = timed(infer_step, warmup, seconds, reps, batch)
    return {"train": train, "infer": infer, "flop": flop, "params": params}


def profile(name, batch, threads, fmt, steps, infer=False):
    """Self CPU time of the top torch ops over `steps` training steps (or,
    infer: eval-mode forward + loss under inference_mode, as run_one)."""
    import torch
    import torch.nn.functional as F
    from torch.profiler import profile as tprofile, ProfilerActivity
    torch.set_num_threads(threads)
    torch.manual_seed(1)
    classes, h, w, c = MODELS[name]
    memory_format = torch.channels_last if fmt == "cl" else torch.contiguous_format
    model = build(name, classes).to(memory_format=memory_format)
    x = (torch.rand(batch, c, h, w) * 2 - 1).contiguous(memory_format=memory_format)
    y = torch.randint(0, classes, (batch,))
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    model.train(not infer)

    def step():
        if infer:
            with torch.inference_mode():
                F.cross_entropy(model(x), y)
            return
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
    for _ in range(2):
        step()
    with tprofile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(steps):
            step()
    print("# torch profile: %s batch %d threads %d %s, %d %s" % (
        name, batch, threads, fmt, steps, "inference steps" if infer else "training steps"))
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=18))


def cpu_seconds():
    """(busy, total) CPU seconds of the machine from /proc/stat (steal = busy)."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:9]]
    hz = os.sysconf("SC_CLK_TCK")
    busy = (v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / hz
    return busy, busy + (v[3] + v[4]) / hz


def wait_quiet(max_wait):
    """Waits (at most max_wait s) until others leave the machine >= 90% idle for 1 s."""
    start = time.monotonic()
    while True:
        b0, t0 = cpu_seconds()
        time.sleep(1)
        b1, t1 = cpu_seconds()
        if t1 <= t0 or (b1 - b0) / (t1 - t0) < 0.1 or time.monotonic() - start >= max_wait:
            return


def run_child(args, name, batch, threads, fmt):
    if args.quiet > 0:
        wait_quiet(args.quiet)
    b0, t0 = cpu_seconds()
    cmd = [sys.executable, os.path.abspath(__file__), "--one", name, str(batch), str(threads),
           fmt, "-r", str(args.reps), "-w", str(args.warmup), "-s", str(args.seconds)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE)
    out = proc.stdout.read()
    proc.stdout.close()
    _, status, ru = os.wait4(proc.pid, 0)
    b1, t1 = cpu_seconds()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        return None
    res = json.loads(out.decode().strip().splitlines()[-1])
    res["rss_kb"] = ru.ru_maxrss
    share = (b1 - b0 - ru.ru_utime - ru.ru_stime) / (t1 - t0) if t1 > t0 else -0.01
    res["others"] = max(0.0, 100.0 * share)
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-m", default=",".join(MODELS))
    ap.add_argument("-b", default="10,32")
    ap.add_argument("-t", default="1,2")
    ap.add_argument("-r", dest="reps", type=int, default=5)
    ap.add_argument("-s", dest="seconds", type=float, default=0.3)
    ap.add_argument("-w", dest="warmup", type=int, default=2)
    ap.add_argument("-q", dest="quiet", type=float, default=0,
                    help="wait up to QUIET s before each run for an idle machine")
    ap.add_argument("-f", dest="fmt", default="best", choices=["best", "contiguous", "channels_last"])
    ap.add_argument("--peak", default="", metavar="GF1,GF2",
                    help="sgemm peak GFLOPS at 1 and 2 threads (from bench_nn -p) for %%peak")
    ap.add_argument("--no-onednn-peak", action="store_true",
                    help="skip the oneDNN 3x3-conv peak measurement")
    ap.add_argument("--onednn-peak-only", action="store_true")
    ap.add_argument("-L", dest="profile", action="store_true",
                    help="torch.profiler table of training steps instead (first -b/-t, -f)")
    ap.add_argument("-E", dest="infer_profile", action="store_true",
                    help="with -L: profile inference steps (eval, inference_mode) instead")
    ap.add_argument("--one", nargs=4, metavar=("MODEL", "BATCH", "THREADS", "FMT"))
    args = ap.parse_args()
    if args.one:
        name, batch, threads, fmt = args.one
        res = run_one(name, int(batch), int(threads), fmt, args.reps, args.warmup, args.seconds)
        print(json.dumps(res))
        return 0

    if args.profile:
        fmt = "cl" if args.fmt == "channels_last" else "nchw"
        for name in args.m.split(","):
            profile(name, int(args.b.split(",")[0]), int(args.t.split(",")[0]), fmt, args.reps,
                    args.infer_profile)
        return 0
    import torch
    names = args.m.split(",")
    for n in names:
        if n not in MODELS:
            print("bench_torch: unknown model %s" % n, file=sys.stderr)
            return 2
    try:
        import torchvision
        tv = torchvision.__version__
    except ImportError:
        tv = None
    print("# torch %s, torchvision %s, %d cpus, load %.2f %.2f %.2f" %
          ((torch.__version__, tv or "not installed", os.cpu_count()) + os.getloadavg()))
    print("# reps %d (median), >= %.2f s each, warm-up %d steps; training = SGD step "
          "(momentum 0.9, wd 5e-4), inference = eval forward + loss; memory format %s"
          % (args.reps, args.seconds, args.warmup, args.fmt))
    if not args.no_onednn_peak:
        pk1 = run_child(args, "peak", 0, 1, "nchw")
        pk2 = run_child(args, "peak", 0, 2, "nchw")
        print("# oneDNN 3x3 conv peak (256->256, 8x32x32, channels_last): 1 thread %.1f GFLOPS,"
              " 2 threads %.1f GFLOPS"
              " (%%peak below is against bench_nn's BLIS sgemm peak)" %
              (pk1["train"] if pk1 else 0, pk2["train"] if pk2 else 0))
        if args.onednn_peak_only:
            return 0
    print("# %-17s %5s %3s %11s %11s %9s %8s %8s %6s %8s %7s %s" % (
        "model", "batch", "thr", "train_img/s", "infer_img/s", "fwd_MFLOP", "train_GF",
        "infer_GF", "%peak", "rss_MB", "others%", "fmt"))
    peaks = [float(v) for v in args.peak.split(",")] if args.peak else []
    fmts = {"best": ["nchw", "cl"], "contiguous": ["nchw"], "channels_last": ["cl"]}[args.fmt]
    failures = 0
    for name in names:
        if name.startswith("mobilenet") and tv is None:
            print("# %s skipped: python3-torchvision is not installed" % name)
            continue
        for batch in [int(b) for b in args.b.split(",")]:
            for threads in [int(t) for t in args.t.split(",")]:
                results = {f: run_child(args, name, batch, threads, f) for f in fmts}
                ok = {f: r for f, r in results.items() if r}
                if not ok:
                    print("# %s batch %d threads %d FAILED" % (name, batch, threads))
                    failures += 1
                    continue
                tf = max(ok, key=lambda f: ok[f]["train"])
                inf = max(ok, key=lambda f: ok[f]["infer"])
                r = ok[tf]
                flop = r["flop"]
                train_gf = 3 * flop * ok[tf]["train"] / 1e9
                infer_gf = flop * ok[inf]["infer"] / 1e9
                # %peak against bench_nn's sgemm peak (--peak), else 0
                pk = peaks[threads - 1] if threads <= len(peaks) else 0.0
                others = max(ok[f]["others"] for f in ok)
                print("  %-17s %5d %3d %11.1f %11.1f %9.2f %8.2f %8.2f %6.1f %8.1f %7.1f %s/%s" % (
                    name, batch, threads, ok[tf]["train"], ok[inf]["infer"], flop / 1e6,
                    train_gf, infer_gf, 100.0 * train_gf / pk if pk else 0.0, r["rss_kb"] / 1024.0,
                    others, tf, inf))
                sys.stdout.flush()
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
