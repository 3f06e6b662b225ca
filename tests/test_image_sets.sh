#!/bin/sh
#   test_image_sets.sh — the file-backed datasets end to end through fedctl:
#   `fedctl train` and `fedctl start` (2 local trainers) of mobilenetv3-small
#   on a few hundred Tiny-ImageNet-200 images in the dataset's own layout,
#   `fedctl train` on a folder of images (ImageFolder layout, 32x32 after
#   data.image_size), and a folder with one damaged JPEG: it opens, and the
#   training that needs the file fails naming it. Runs in seconds.
#   Data: the shared copy ($FG_TINY_IMAGENET_DIR or
#   /work/shared/data/tiny-imagenet-200); every case is skipped when absent.
#   The folder set links to its JPEGs. TAP output.
set -u
FEDCTL=${FEDCTL:-cli/fedctl}
tiny=${FG_TINY_IMAGENET_DIR:-/work/shared/data/tiny-imagenet-200}
work=$(mktemp -d /tmp/fg-image-sets-XXXXXX)
trap 'rm -rf "$work"' EXIT
n=0; failed=0
ok () { n=$((n + 1)); echo "ok $n - $1"; }
bad () { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"; }

if [ ! -r "$tiny/wnids.txt" ]; then
    echo "1..0 # SKIP Tiny-ImageNet-200 not found at $tiny (set FG_TINY_IMAGENET_DIR)"
    exit 0
fi
small="--set model.name=\"mobilenetv3-small\" --set grid.threads=1"

#   Tiny-ImageNet: 400 training, 200 test images, one epoch
"$FEDCTL" init "$work/tiny" --preset tinyimagenet-mnv3-iid --set data.path="$tiny" \
    --set data.train_limit=400 --set data.test_limit=200 >/dev/null 2>"$work/err"
# shellcheck disable=SC2086
if "$FEDCTL" train "$work/tiny" --set training.epochs=1 $small >"$work/out" 2>"$work/err" \
   && grep -q "^epoch 1/1 " "$work/out" && grep -q "400 training, 200 test images" "$work/err" \
   && grep -q "^final weights .* sha256 [0-9a-f]\{64\}$" "$work/out"; then
    ok "fedctl train on tiny-imagenet"
else bad "fedctl train on tiny-imagenet: $(tail -c 300 "$work/err")"; fi

#   the same set federated: 2 trainers, 2 rounds
"$FEDCTL" init "$work/fed" --preset tinyimagenet-mnv3-iid --set data.path="$tiny" \
    --set data.train_limit=200 --set data.test_limit=100 --set experiment.rounds=2 \
    --set training.local_epochs=1 --set grid.nodes=2 >/dev/null 2>"$work/err"
# shellcheck disable=SC2086
if "$FEDCTL" start "$work/fed" --local 2 $small >"$work/out" 2>"$work/err" \
   && grep -q "^round 2/2 " "$work/out" && grep -q "^finished: final weights" "$work/out"; then
    ok "fedctl start on tiny-imagenet (2 trainers, 2 rounds)"
else bad "fedctl start on tiny-imagenet: $(tail -c 300 "$work/err")"; fi

#   a folder set: 4 classes of 12 training and 3 test images (links)
mk_folder () {
    root=$1
    for wnid in $(head -n 4 "$tiny/wnids.txt"); do
        mkdir -p "$root/train/$wnid" "$root/val/$wnid"
        for i in 0 1 2 3 4 5 6 7 8 9 10 11; do
            ln -s "$tiny/train/$wnid/images/${wnid}_$i.JPEG" "$root/train/$wnid/img$i.jpg"
        done
        for i in 90 91 92; do
            ln -s "$tiny/train/$wnid/images/${wnid}_$i.JPEG" "$root/val/$wnid/img$i.jpeg"
        done
    done
}
mk_folder "$work/folder-data"
"$FEDCTL" init "$work/folder" --preset tinyimagenet-mnv3-iid --set data.dataset=\"folder\" \
    --set data.path="$work/folder-data" --set data.image_size=32 >/dev/null 2>"$work/err"
# shellcheck disable=SC2086
if "$FEDCTL" train "$work/folder" --set training.epochs=1 $small >"$work/out" 2>"$work/err" \
   && grep -q "^epoch 1/1 " "$work/out" && grep -q "folder train: 48 training, 12 test images" "$work/err"; then
    ok "fedctl train on a folder of images (image_size 32)"
else bad "fedctl train on a folder: $(tail -c 300 "$work/err")"; fi

#   one damaged JPEG (its first 300 bytes): the set opens, training fails
#   naming the file
mk_folder "$work/damaged-data"
victim="$work/damaged-data/train/$(sed -n 2p "$tiny/wnids.txt")/img5.jpg"
rm "$victim"
head -c 300 "$tiny/train/$(sed -n 2p "$tiny/wnids.txt")/images/$(sed -n 2p "$tiny/wnids.txt")_5.JPEG" >"$victim"
"$FEDCTL" init "$work/damaged" --preset tinyimagenet-mnv3-iid --set data.dataset=\"folder\" \
    --set data.path="$work/damaged-data" --set data.image_size=32 >/dev/null 2>"$work/err"
# shellcheck disable=SC2086
"$FEDCTL" train "$work/damaged" --set training.epochs=1 $small >"$work/out" 2>"$work/err"; rc=$?
if [ "$rc" -ne 0 ] && grep -qF "$victim" "$work/err" && grep -q "folder train: 48 training" "$work/err"; then
    ok "a damaged JPEG: the set opens, training fails naming the file (exit $rc)"
else bad "a damaged JPEG (exit $rc): $(tail -c 300 "$work/err")"; fi

echo "1..$n"
[ "$failed" -eq 0 ]
