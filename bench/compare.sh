#!/bin/sh
#   compare.sh — fedgrid's bench_nn and the PyTorch reference bench_torch.py
#   on the same configurations, side by side (docs/benchmarks.md).
#
#       bench/compare.sh [options for both: -m models -b batches -t threads
#                         -r reps -s seconds -w warmup]
#
#   bench_nn is taken from $BENCH_NN, else ./bench/bench_nn (run from the
#   build directory after `make check` or `make bench/bench_nn`). Python is
#   $PYTHON, else /usr/bin/python3 (Debian's, with python3-torch). Both raw
#   tables are kept in $OUT (default: a mkdtemp folder, printed at the end).
#   Ratios are fedgrid / torch (> 1: fedgrid faster). oth% = CPU share
#   other processes took during that row's run (noise indicator); pass -q
#   max_wait to make both wait for an idle machine before each run.

set -eu
here=$(cd "$(dirname "$0")" && pwd)
bench_nn=${BENCH_NN:-./bench/bench_nn}
python=${PYTHON:-/usr/bin/python3}
if [ ! -x "$bench_nn" ]; then
    echo "compare.sh: $bench_nn not found (run from the build directory or set BENCH_NN)" >&2
    exit 2
fi
out=${OUT:-$(mktemp -d /tmp/fedgrid-compare.XXXXXX)}
mkdir -p "$out"

echo "# $(date -u '+%Y-%m-%d %H:%M UTC'), $(uname -m), $(nproc) cpus, load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
"$bench_nn" "$@" > "$out/fedgrid.txt"
peak=$(sed -n 's/^# sgemm.*1 thread \([0-9.]*\) GFLOPS, 2 threads \([0-9.]*\) GFLOPS.*/\1,\2/p' "$out/fedgrid.txt")
"$python" "$here/bench_torch.py" --peak "${peak:-0,0}" "$@" > "$out/torch.txt"
grep '^#' "$out/fedgrid.txt" | sed 's/^# /# fedgrid: /'
grep '^#' "$out/torch.txt" | grep -v '^# model' | sed 's/^# /# torch:   /'
echo "# end of load: $(cut -d' ' -f1-3 /proc/loadavg)"

awk '
    FNR == 1 { file++ }
    /^#/ { next }
    file == 1 { key = $1 " " $2 " " $3; order [++n] = key
                f_train [key] = $4; f_infer [key] = $5; flop [key] = $6
                f_gf [key] = $7; f_pk [key] = $9; f_rss [key] = $10; f_oth [key] = $11 }
    file == 2 { key = $1 " " $2 " " $3
                t_train [key] = $4; t_infer [key] = $5; t_gf [key] = $7
                t_pk [key] = $9; t_rss [key] = $10; t_oth [key] = $11; t_fmt [key] = $12 }
    function ratio (a, b) { return b > 0? sprintf ("%.2f", a / b): "-" }
    END {
        printf "%-17s %5s %3s | %9s %9s %5s | %9s %9s %5s | %6s %6s | %6s %6s | %5s %5s | %s\n",
               "model", "batch", "thr", "train fg", "torch", "x", "infer fg", "torch", "x",
               "%pk fg", "torch", "RSS fg", "torch", "oth%f", "oth%t", "torch fmt"
        for (i = 1; i <= n; i++) {
            k = order [i]; split (k, p, " ")
            printf "%-17s %5s %3s | %9.1f %9.1f %5s | %9.1f %9.1f %5s | %6.1f %6.1f | %6.0f %6.0f | %5.1f %5.1f | %s\n",
                   p [1], p [2], p [3], f_train [k], t_train [k], ratio(f_train [k], t_train [k]),
                   f_infer [k], t_infer [k], ratio(f_infer [k], t_infer [k]),
                   f_pk [k], t_pk [k], f_rss [k], t_rss [k], f_oth [k], t_oth [k], t_fmt [k]
        }
    }' "$out/fedgrid.txt" "$out/torch.txt"
echo "# raw tables: $out/fedgrid.txt $out/torch.txt"
