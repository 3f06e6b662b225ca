#!/bin/sh
#   test_worker_files.sh — a worker without a file-backed set (TAP output):
#   a coordinator trains cnn-small on a generated Tiny-ImageNet layout
#   (tests/fg_make_tiny: 4 classes of 25 seeded 64x64 JPEGs, 2 nodes, 1
#   round); one `fedctl worker` process WITHOUT the dataset, with --cache,
#   does every unit over tcp with CURVE:
#     - the final weights are those of the run whose trainers hold the data;
#     - clients.csv counts the bytes served: every training file fetched
#       once, about the files' bytes on disk (the JPEGs travel as they are
#       stored, LZ4-packed), far below the decoded records (12,290 bytes a
#       sample);
#     - a second experiment on the same data, worked by a restarted worker
#       with the same cache, fetches nothing (fetched_bytes 0 everywhere)
#       and ends on the same weights.
set -u
. "$(dirname "$0")/fg_test_lib.sh"
fg_test_begin fetchfiles
MAKE_TINY=${MAKE_TINY:-tests/fg_make_tiny}

tiny="$work/tiny"
if ! "$MAKE_TINY" "$tiny" 4 25 3 5 >"$work/make.out" 2>&1; then
    bad "a Tiny-ImageNet layout is written ($(head -c 300 "$work/make.out"))"; fg_test_end; exit 1
fi
files=$(find "$tiny/train" -name '*.JPEG' | wc -l)
stored=$(find "$tiny/train" -name '*.JPEG' -printf '%s\n' | awk '{ s += $1 } END { print s }')
decoded=$((files * (2 + 64 * 64 * 3)))
tiny_exp () {   # tiny_exp DIR: the test experiment on the layout
    new_exp "$1" --set data.dataset=tiny-imagenet --set "data.path=$tiny" --set grid.nodes=2 \
        --set experiment.rounds=1 --set training.local_epochs=1
}

ref="$work/ref"
tiny_exp "$ref"
if "$FEDCTL" start "$ref" --local 2 >"$ref.out" 2>&1 && [ "$(state_of "$ref")" = finished ]; then
    ok "reference run (trainers hold the dataset) finishes"
else
    bad "reference run (trainers hold the dataset) finishes ($(tail -3 "$ref.out"))"; fg_test_end; exit 1
fi
H=$(final_hash "$ref")
awk -F, 'NR > 1 && $10 + 0 != 0 { bad = 1 } END { exit bad }' "$ref/clients.csv" \
    && ok "reference run: nothing fetched" || bad "reference run: nothing fetched ($(cat "$ref/clients.csv"))"

d="$work/fetch"
tiny_exp "$d"
run_fetcher "$d"
check "$d" "a worker without the dataset (fresh cache): the reference's final weights"
got=$(fetched_of "$d")
#   every training file once (the round's shards cover the set), with
#   its 6-byte head, LZ4-packed: JPEGs do not shrink, but LZ4 finds the
#   tables every file of a chunk repeats (~600 bytes of quantisation and
#   Huffman tables a file here), so a little less
low=$((stored * 70 / 100)); high=$((stored + files * 6 + stored / 50 + 4096))
samples=$(sed -n 's/.*: fetched \([0-9]*\) samples (\([0-9]*\) bytes).*/\1/p' "$d.worker" \
          | awk '{ s += $1 } END { print s + 0 }')
if [ "$got" -ge "$low" ] && [ "$got" -le "$high" ] && [ "$got" -lt $((decoded / 3)) ] \
   && [ "$samples" -eq "$files" ]; then
    ok "clients.csv: $got bytes fetched for the $files files of $stored bytes on disk ($decoded bytes decoded)"
else
    bad "clients.csv: fetched bytes $got ($samples samples), expected $low..$high for the $files files of $stored bytes, below $decoded / 3"
fi
grep -q "fetching [0-9]* of [0-9]* samples" "$d.worker" \
    && ok "the worker fetched its samples" || bad "the worker fetched its samples ($(tail -c 300 "$d.worker"))"

d2="$work/again"
tiny_exp "$d2"
run_fetcher "$d2"
check "$d2" "a restarted worker with the same cache: the reference's final weights"
got2=$(fetched_of "$d2")
if [ "$got2" -eq 0 ] && grep -q "all [0-9]* samples in the cache" "$d2.worker" \
   && ! grep -q "fetching [0-9]* of" "$d2.worker"; then
    ok "a restarted worker with the same cache fetches nothing"
else
    bad "a restarted worker with the same cache fetches nothing ($got2 bytes; $(grep -m 3 'fetch' "$d2.worker"))"
fi
fg_test_end
