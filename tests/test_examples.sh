#!/bin/sh
#   test_examples.sh — the two programs of examples/ (built by make check
#   against lib/libfedgrid.la, <fedgrid.h> only): train_dataset learns (test
#   accuracy far above the 10 % of chance) and gives the same weights on a
#   second run, on the synthetic set and, when Debian's dataset-fashion-mnist
#   is installed, on Fashion-MNIST; coordinator_local's final weights hash is
#   the one `fedctl start` gives for the same configuration. TAP output.
set -u
FEDCTL=${FEDCTL:-cli/fedctl}
export FEDGRID_LOG=warn
work=$(mktemp -d /tmp/fg-examples-XXXXXX)
trap 'rm -rf "$work"' EXIT
n=0; failed=0
ok () { n=$((n + 1)); echo "ok $n - $1"; }
bad () { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"; }
skip () { n=$((n + 1)); echo "ok $n - # SKIP $1"; }

#   train DIR NAME: two runs of train_dataset on 512 images
train () {
    examples/train_dataset "$1" 512 >"$work/$2.1" 2>"$work/$2.err" \
        && examples/train_dataset "$1" 512 >"$work/$2.2" 2>>"$work/$2.err"
    rc=$?
    acc=$(sed -n 's/^test: .*accuracy \([0-9.]*\)%.*/\1/p' "$work/$2.1")
    if [ "$rc" -eq 0 ] && grep -q "^$3 train: 512 training images" "$work/$2.1" \
       && awk -v a="${acc:-0}" 'BEGIN { exit !(a >= 30) }'; then
        ok "train_dataset on $2 learns (test accuracy $acc %)"
    else bad "train_dataset on $2 (exit $rc, accuracy ${acc:-none}): $(head -c 300 "$work/$2.err")"; fi
    h1=$(sed -n 's/^weights sha256 //p' "$work/$2.1"); h2=$(sed -n 's/^weights sha256 //p' "$work/$2.2")
    if [ -n "$h1" ] && [ "$h1" = "$h2" ]; then ok "train_dataset on $2: same weights twice ($h1)"
    else bad "train_dataset on $2: weights ${h1:-none} then ${h2:-none}"; fi
}
train "$work/no-such-folder" synthetic synthetic
fm=/usr/share/datasets/fashion-mnist
if [ -f "$fm/train-images-idx3-ubyte.gz" ]; then train "$fm" fashion-mnist fashion-mnist
else skip "Fashion-MNIST absent ($fm; apt-get install dataset-fashion-mnist)"; skip "idem"; fi

#   the in-process run against fedctl start on the same configuration
examples/coordinator_local "$work/example" >"$work/example.out" 2>"$work/example.err"
rc=$?
mine=$(sed -n 's/^final weights sha256 //p' "$work/example.out")
if [ "$rc" -eq 0 ] && [ "$(grep -c '^round [12]/2 ' "$work/example.out")" -eq 2 ] && [ -n "$mine" ]; then
    ok "coordinator_local commits 2 rounds"
else bad "coordinator_local (exit $rc): $(head -c 300 "$work/example.err")"; fi
"$FEDCTL" init "$work/fedctl" --preset synthetic-tiny --set experiment.rounds=2 \
    --set grid.threads=1 >/dev/null 2>&1
theirs=$("$FEDCTL" start "$work/fedctl" --local 2 2>"$work/fedctl.err" | sed -n 's/^finished: final weights sha256 //p')
if [ -n "$mine" ] && [ "$mine" = "$theirs" ]; then ok "coordinator_local's weights are fedctl start's ($mine)"
else bad "coordinator_local ${mine:-none}, fedctl start ${theirs:-none}: $(head -c 200 "$work/fedctl.err")"; fi
if "$FEDCTL" status "$work/example" 2>/dev/null | grep -q "sha256 $mine"; then
    ok "fedctl status reads the example's experiment folder"
else bad "fedctl status on the example's folder"; fi

echo "1..$n"
[ "$failed" -eq 0 ]
