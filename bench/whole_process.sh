#!/bin/sh
#   bench/whole_process.sh — the whole `fedctl train` process against the
#   PyTorch reference (bench/train_torch.py) on the same data: vgg16-bn on
#   the first IMAGES CIFAR-10 training images (and as many test images),
#   one epoch, the accuracy recipe of docs/benchmarks.md (SGD lr 0.01,
#   momentum 0.9, constant rate, augmentation, fedgrid's batch order).
#   Runs alternate fedgrid, torch, fedgrid, ... so both see the same load.
#
#   Interface (bench/compare.sh calls it; keep it stable):
#       bench/whole_process.sh [-r RUNS] [-n IMAGES] [-b BATCH] [-t THREADS]
#                              [-o WORKDIR] [-q]
#           -r RUNS     pairs of runs (default 3)
#           -n IMAGES   training images = test images (default 640)
#           -b BATCH    batch size, training and test (default 32)
#           -t THREADS  threads of both (default 2)
#           -o WORKDIR  where the experiment and logs go (default a new
#                       folder under ${TMPDIR:-/tmp}; kept)
#           -q          no header line
#       environment: FEDCTL (default build/cli/fedctl of this tree),
#       PYTHON (default /usr/bin/python3: Debian's torch), CIFAR (default
#       ${FEDGRID_DATA:-/work/shared/data}/cifar10).
#   Output: a header line (starting with #), then one line per run,
#   whitespace-separated:
#       tool model batch images threads wall_s compute_s startup_s write_s
#       peak_rss_mb minor_faults load1
#   tool is fedgrid or torch; compute_s = training + evaluation as the
#   program reports it (fedctl's "time" line on stderr, train_torch.py's
#   "time:" line); write_s = fedctl's checkpoints + final write (torch
#   writes nothing: 0); startup_s = wall - compute - write (process start,
#   libraries, data, model, exit); peak RSS and minor faults from
#   /usr/bin/time; load1 = the 1-minute load average when the run ended.
#   Exit status non-zero when a run fails (its log named on stderr).
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
runs=3 images=640 batch=32 threads=2 work= header=1
while getopts r:n:b:t:o:q opt; do
    case $opt in
        r) runs=$OPTARG ;; n) images=$OPTARG ;; b) batch=$OPTARG ;;
        t) threads=$OPTARG ;; o) work=$OPTARG ;; q) header= ;;
        *) sed -n '2,/^set -eu/p' "$0" | sed 's/^#//' >&2; exit 64 ;;
    esac
done
fedctl=${FEDCTL:-$top/build/cli/fedctl}
python=${PYTHON:-/usr/bin/python3}
cifar=${CIFAR:-${FEDGRID_DATA:-/work/shared/data}/cifar10}
[ -x "$fedctl" ] || { echo "whole_process.sh: no fedctl at $fedctl (build first or set FEDCTL)" >&2; exit 69; }
[ -n "$work" ] || work=$(mktemp -d "${TMPDIR:-/tmp}/whole-process-XXXXXX")
mkdir -p "$work"

"$fedctl" init "$work/vgg" --preset cifar10-vgg16-iid --set data.path="$cifar" \
    --set training.epochs=1 --set training.batch_size="$batch" \
    --set training.test_batch_size="$batch" --set training.lr=0.01 \
    --set training.momentum=0.9 --set training.schedule=constant \
    --set grid.threads="$threads" --set data.train_limit="$images" \
    --set data.test_limit="$images" >"$work/init.log" 2>&1 \
    || { echo "whole_process.sh: fedctl init failed, see $work/init.log" >&2; exit 1; }

[ -n "$header" ] && echo "# tool model batch images threads wall_s compute_s startup_s write_s peak_rss_mb minor_faults load1"

#   run TOOL N: one run, its line on stdout
run () {
    log=$work/$1-$2.log times=$work/$1-$2.time
    if [ "$1" = fedgrid ]; then
        /usr/bin/time -f '%e %M %R' -o "$times" "$fedctl" train "$work/vgg" --restart >"$log" 2>&1
    else
        /usr/bin/time -f '%e %M %R' -o "$times" "$python" "$top/bench/train_torch.py" \
            -d "$cifar" -b "$batch" --test-batch "$batch" -t "$threads" \
            --train-limit "$images" --test-limit "$images" >"$log" 2>&1
    fi || { echo "whole_process.sh: $1 run $2 failed, see $log" >&2; return 1; }
    load=$(cut -d' ' -f1 /proc/loadavg)
    #   fedctl: "fedctl: time (wall / cpu s): start-up A / a, training B / b,
    #   evaluation C / c, checkpoints D / d, final write E / e"
    #   torch:  "time: training B s, evaluation C s"
    awk -v tool="$1" -v batch="$batch" -v images="$images" -v threads="$threads" \
        -v load="$load" -v times="$(tail -n 1 "$times")" '
        /^fedctl: time \(wall/ { gsub (/,/, ""); train = $12; evalw = $16; ckpt = $20; fin = $25; seen = 1 }
        /^time: training/      { train = $3; evalw = $6; ckpt = 0; fin = 0; seen = 1 }
        END {
            if (!seen) { print "whole_process.sh: no time line in the " tool " log" > "/dev/stderr"; exit 1 }
            split (times, t, " ")
            compute = train + evalw; write = ckpt + fin
            printf "%s vgg16-bn %d %d %d %.2f %.2f %.2f %.2f %.0f %d %s\n", tool, batch, images,
                   threads, t [1], compute, t [1] - compute - write, write, t [2] / 1024, t [3], load
        }' "$log"
}

i=1
while [ "$i" -le "$runs" ]; do
    run fedgrid "$i"
    run torch "$i"
    i=$((i + 1))
done
