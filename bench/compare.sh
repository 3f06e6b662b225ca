#!/bin/sh
#   compare.sh — fedgrid's bench_nn and the PyTorch reference bench_torch.py
#   on the same configurations, side by side (docs/benchmarks.md).
#
#       bench/compare.sh [-m models] [-b batches] [-t threads] [other options
#                         for both: -r reps -s seconds -w warmup -q max_wait]
#
#   Defaults as bench_nn (every model, -b 10,32, -t 1,2). The two programs
#   run alternately, one configuration at a time, so both meet about the
#   same machine load. bench_nn is $BENCH_NN, else ./bench/bench_nn (run
#   from the build directory after `make check` or `make bench/bench_nn`);
#   Python is $PYTHON, else /usr/bin/python3 (Debian's, with python3-torch).
#   Raw tables go to $OUT (default: a mkdtemp folder, printed at the end).
#   Ratios are fedgrid / torch (> 1: fedgrid faster). oth% = CPU share other
#   processes took during that row's run (noise indicator); -q max_wait
#   makes both wait for an idle machine before each run.
#   -i avx2|avx512: both sides limited to one instruction set (below).
#
#   -c parts   which comparisons, comma-separated (default kernels,whole,round):
#     kernels  the table above (bench_nn against bench_torch.py);
#     whole    the whole process: `fedctl train` against PyTorch's, by
#              bench/whole_process.sh when it is present (else said and
#              skipped), given $WHOLE_ARGS;
#     round    the round level: bench/round.sh (one federated round's wall
#              time against the slowest trainer's compute + evaluation;
#              target <= 1.10), FEDCTL=$FEDCTL (default ./cli/fedctl, run
#              from the build directory), given $ROUND_ARGS.

set -eu
here=$(cd "$(dirname "$0")" && pwd)
bench_nn=${BENCH_NN:-./bench/bench_nn}
python=${PYTHON:-/usr/bin/python3}
parts=kernels,whole,round

#   ---- the whole-process and round-level comparisons (-c whole,round) ----
s_want () { case ",$parts," in *",$1,"*) return 0 ;; *) return 1 ;; esac; }
s_whole () {
    echo "# ---- whole process: fedctl train against PyTorch (bench/whole_process.sh)"
    if [ -x "$here/whole_process.sh" ]; then
        # shellcheck disable=SC2086
        "$here/whole_process.sh" ${WHOLE_ARGS:-} || echo "compare.sh: whole_process.sh failed" >&2
    else
        echo "# bench/whole_process.sh is not in this tree: whole-process comparison skipped"
    fi
}
s_round () {
    echo "# ---- round level: wall time against the slowest unit + evaluation (bench/round.sh)"
    # shellcheck disable=SC2086
    FEDCTL=${FEDCTL:-./cli/fedctl} "$here/round.sh" ${ROUND_ARGS:-} ||
        echo "compare.sh: round.sh failed" >&2
}
s_others () {
    if s_want whole; then s_whole; fi
    if s_want round; then s_round; fi
}
prev=""
for a in "$@"; do [ "$prev" = -c ] && parts=$a; prev=$a; done
if ! s_want kernels; then s_others; exit 0; fi

if [ ! -x "$bench_nn" ]; then
    echo "compare.sh: $bench_nn not found (run from the build directory or set BENCH_NN)" >&2
    exit 2
fi
models=cnn-small,vgg16-bn,mobilenetv3-small,mobilenetv3-large
batches=10,32
threads=1,2
rest=""
while [ $# -gt 0 ]; do
    case "$1" in
        -m) models=$2; shift 2 ;;
        -b) batches=$2; shift 2 ;;
        -t) threads=$2; shift 2 ;;
        -r|-s|-w|-q) rest="$rest $1 $2"; shift 2 ;;
        -i) isa=$2; shift 2 ;;
        -c) shift 2 ;;                  #  read above (parts)
        *) echo "compare.sh: unknown option $1" >&2; exit 2 ;;
    esac
done
##  -i ISA: fedgrid's GEMM and direct-convolution kernels forced to ISA
##  (FEDGRID_GEMM) and PyTorch's oneDNN capped at the same one
##  (ONEDNN_MAX_CPU_ISA; ATEN_CPU_CAPABILITY for its own vector loops):
##  the comparison a PC without AVX-512 would see
case "${isa:-}" in
    "") ;;
    avx2) export FEDGRID_GEMM=avx2 ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2 ;;
    avx512) export FEDGRID_GEMM=avx512 ONEDNN_MAX_CPU_ISA=AVX512_CORE ;;
    *) echo "compare.sh: -i $isa: avx2 or avx512" >&2; exit 2 ;;
esac
out=${OUT:-$(mktemp -d /tmp/fedgrid-compare.XXXXXX)}
mkdir -p "$out"
: > "$out/fedgrid.txt"
: > "$out/torch.txt"

echo "# $(date -u '+%Y-%m-%d %H:%M UTC'), $(uname -m), $(nproc) cpus, load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
[ -z "${isa:-}" ] || echo "# isa: FEDGRID_GEMM=$FEDGRID_GEMM ONEDNN_MAX_CPU_ISA=$ONEDNN_MAX_CPU_ISA"
# shellcheck disable=SC2086
"$bench_nn" -p $rest > "$out/peak.txt"
peak=$(sed -n 's/^# sgemm.*1 thread \([0-9.]*\) GFLOPS, 2 threads \([0-9.]*\) GFLOPS.*/\1,\2/p' "$out/peak.txt")
# shellcheck disable=SC2086
"$python" "$here/bench_torch.py" --onednn-peak-only $rest > "$out/torch-peak.txt"
for m in $(echo "$models" | tr , ' '); do
    for b in $(echo "$batches" | tr , ' '); do
        for t in $(echo "$threads" | tr , ' '); do
            # shellcheck disable=SC2086
            "$bench_nn" -P "${peak:-0,0}" -m "$m" -b "$b" -t "$t" $rest >> "$out/fedgrid.txt" ||
                echo "compare.sh: bench_nn failed on $m batch $b threads $t" >&2
            # shellcheck disable=SC2086
            "$python" "$here/bench_torch.py" --no-onednn-peak --peak "${peak:-0,0}" \
                -m "$m" -b "$b" -t "$t" $rest \
                >> "$out/torch.txt" ||
                echo "compare.sh: bench_torch.py failed on $m batch $b threads $t" >&2
        done
    done
done
sed 's/^# /# fedgrid: /' "$out/peak.txt"
grep '^# oneDNN' "$out/torch-peak.txt" | sed 's/^# /# torch:   /'
grep '^# torch\|^# reps' "$out/torch.txt" | sort -u | sed 's/^# /# torch:   /'
echo "# end: $(date -u '+%H:%M UTC'), load $(cut -d' ' -f1-3 /proc/loadavg)"

awk '
    FNR == 1 { file++ }
    /^#/ { next }
    file == 1 { key = $1 " " $2 " " $3; order [++n] = key
                f_train [key] = $4; f_infer [key] = $5
                f_pk [key] = $9; f_rss [key] = $10; f_oth [key] = $11 }
    file == 2 { key = $1 " " $2 " " $3
                t_train [key] = $4; t_infer [key] = $5
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
s_others
