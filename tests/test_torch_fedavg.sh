#!/bin/sh
#   test_torch_fedavg.sh — bench/torch_fedavg.py trains what fedgrid trains:
#   1. its partition (bench/partition_ref.py) gives `fedctl debug shards`'s
#      shards, byte for byte, for every strategy x distribution, rounds 1..3,
#      on 1,999 Fashion-MNIST samples over 7 shards (uneven sizes), plus
#      skews over 3 shards with 1 dominant class: balance 0.95 (class
#      exhaustion) and 0.1 (45 to 122 samples left in the FIFO after the
#      last shard: the leftover exchange of docs/partitioning.md);
#   2. one round of a small experiment (2 shards, 2 local epochs, augmented,
#      dynamic skew) from `fedctl export --round 0` weights: torch's round-1
#      weights equal fedgrid's up to float rounding (relative to the update:
#      below 1e-3; measured 7.6e-6), while drawing the batch order or the
#      augmentation from another epoch's stream moves them by more than 0.05
#      (measured 0.52 and 0.37): so the batch order, augmentation draws,
#      normalisation, learning rate, SGD and FedAvg weighting all agree.
#   Skipped with the reason without Debian's python3-torch / numpy for
#   /usr/bin/python3 or without Fashion-MNIST. TAP output.
set -u
. "${srcdir:-.}/tests/fg_test_lib.sh"
python=/usr/bin/python3
data=/usr/share/datasets/fashion-mnist
bench="${srcdir:-.}/bench"
if ! "$python" -c 'import torch, numpy, tomllib' >/dev/null 2>&1; then
    echo "1..0 # SKIP no python3-torch / python3-numpy (3.11) for $python (apt-get install python3-torch)"
    exit 0
fi
if [ ! -d "$data" ]; then echo "1..0 # SKIP no Fashion-MNIST in $data"; exit 0; fi
fg_test_begin torch-fedavg
ref () { "$python" "$bench/torch_fedavg.py" "$@" --fedctl "$FEDCTL"; }

#   1. shards
p="$work/p"
"$FEDCTL" init "$p" --set data.path="$data" --set data.train_limit=1999 --set grid.nodes=7 >/dev/null 2>&1
shards_agree () {   # shards_agree WHAT --set ...: rounds 1..3 from both sides
    what=$1; shift
    : > "$work/c"
    for r in 1 2 3; do "$FEDCTL" debug shards "$p" $r "$@" >> "$work/c" 2>"$work/c.err"; done
    ref "$p" --shards 1,2,3 "$@" > "$work/py" 2>"$work/py.err"
    lines=$(wc -l < "$work/c")
    if [ "$lines" -gt 0 ] && cmp -s "$work/c" "$work/py"; then ok "shards of $what: the same ($lines shards)"
    else bad "shards of $what: the same ($lines lines; $(head -c 200 "$work/c.err" "$work/py.err"))"; fi
}
for strategy in stochastic static dynamic hybrid; do
    for dist in iid skew dirichlet; do
        shards_agree "$strategy/$dist" --set data.strategy=$strategy --set data.distribution=$dist
    done
done
shards_agree "dynamic/skew, class exhaustion" --set data.strategy=dynamic --set data.distribution=skew \
    --set grid.nodes=3 --set data.dominant_classes=1 --set data.balance=0.95
shards_agree "dynamic/skew, leftover exchange" --set data.strategy=dynamic --set data.distribution=skew \
    --set grid.nodes=3 --set data.dominant_classes=1 --set data.balance=0.1
shards_agree "hybrid/dirichlet alpha 0.1, keep 0.3" --set data.strategy=hybrid \
    --set data.distribution=dirichlet --set data.alpha=0.1 --set data.keep_fraction=0.3

#   2. one round, weights
e="$work/e"
"$FEDCTL" init "$e" --set data.path="$data" --set data.train_limit=600 --set data.test_limit=200 \
    --set experiment.rounds=1 --set grid.nodes=2 --set data.augment=true \
    --set training.local_epochs=2 --set data.strategy=dynamic --set data.distribution=skew >/dev/null 2>&1
if "$FEDCTL" start "$e" --local 2 >"$work/start.out" 2>&1 \
   && "$FEDCTL" export "$e" --round 1 -o "$e/r1.safetensors" >/dev/null 2>"$work/export.err" \
   && "$FEDCTL" export "$e" --round 0 -o "$e/r0.safetensors" >/dev/null 2>>"$work/export.err"; then
    ok "a one-round experiment and its round 0 and 1 weights"
else bad "a one-round experiment and its round 0 and 1 weights ($(tail -2 "$work/start.out" "$work/export.err"))"; fi
#   distance DIR/t.safetensors: |torch - fedgrid| / |fedgrid - initial| over every tensor
distance () {
    "$python" -c '
import sys
sys.path.insert(0, sys.argv[4])
from torch_eval import load_safetensors
t, f, g = (load_safetensors(p)[1] for p in sys.argv[1:4])
num = sum(((t[k].double() - f[k].double()) ** 2).sum() for k in f)
den = sum(((f[k].double() - g[k].double()) ** 2).sum() for k in f)
print("%.3g" % (num / den).sqrt().item())' "$1" "$e/r1.safetensors" "$e/r0.safetensors" "${srcdir:-.}/tests/ref"
}
for mode in same order augment; do
    extra=""; [ $mode = same ] || extra="--perturb $mode"
    rm -f "$e/t.safetensors"
    ref "$e" --save-round 1 "$e/t.safetensors" $extra > "$work/run.$mode" 2>&1
    d=$(distance "$e/t.safetensors" 2>>"$work/run.$mode")
    case $mode in
        same) want="below 1e-3"; test -n "$d" && awk "BEGIN { exit !($d < 1e-3) }" ;;
        *)    want="above 0.05"; test -n "$d" && awk "BEGIN { exit !($d > 0.05) }" ;;
    esac
    if [ $? -eq 0 ]; then ok "round-1 weights, $mode batches: distance $d $want"
    else bad "round-1 weights, $mode batches: distance ${d:-none} $want ($(tail -3 "$work/run.$mode"))"; fi
done
fg_test_end
