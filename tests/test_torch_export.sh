#!/bin/sh
#   test_torch_export.sh — a fedgrid model in PyTorch: a short Fashion-MNIST
#   experiment exported as safetensors is loaded by tests/ref/torch_eval.py
#   (docs/models.md's module, the file's own normalisation metadata) and
#   gives the accuracy `fedctl eval` gives. Skipped with the reason without
#   Debian's python3-torch or the dataset. TAP output.
set -u
. "${srcdir:-.}/tests/fg_test_lib.sh"
python=/usr/bin/python3
data=/usr/share/datasets/fashion-mnist
if ! "$python" -c 'import torch' >/dev/null 2>&1; then
    echo "1..0 # SKIP no python3-torch for $python (apt-get install python3-torch)"; exit 0
fi
if [ ! -d "$data" ]; then echo "1..0 # SKIP no Fashion-MNIST in $data"; exit 0; fi
fg_test_begin torch-export
e="$work/e"
"$FEDCTL" init "$e" --set data.train_limit=2000 --set data.test_limit=500 \
    --set experiment.rounds=1 --set grid.nodes=2 >/dev/null 2>&1
if "$FEDCTL" start "$e" --local 2 >"$work/start.out" 2>&1 \
   && "$FEDCTL" export "$e" -o "$e/w.safetensors" >/dev/null 2>"$work/export.err"; then
    ok "a short Fashion-MNIST run exported as safetensors"
else bad "a short Fashion-MNIST run exported as safetensors ($(tail -2 "$work/start.out" "$work/export.err"))"; fi
want=$("$FEDCTL" eval "$e" --model "$e/w.safetensors" 2>&1 | sed -n 's/.*test accuracy \([0-9.]*%\) (\([0-9]*\) images).*/\1 (\2 images)/p')
got=$("$python" "${srcdir:-.}/tests/ref/torch_eval.py" "$e/w.safetensors" "$data" 500 2>"$work/py.err" | sed -n 's/^accuracy //p')
if [ -n "$want" ] && [ "$want" = "$got" ]; then ok "PyTorch gives fedctl eval's accuracy: $got"
else bad "PyTorch gives fedctl eval's accuracy (fedctl $want, torch $got; $(tail -3 "$work/py.err"))"; fi
fg_test_end
