#!/bin/sh
#   test_worker_texture.sh — a worker without the texture set's folder (TAP
#   output): a coordinator trains cnn-small on a generated texture set
#   (tests/fg_make_texture: 3 classes of 4 seeded 600x1000 images, PNG and
#   JPEG, 256-pixel fragments at stride 128, 2 rotations, seen at 32x32;
#   2 nodes, 1 round); one `fedctl worker` process WITHOUT the folder, with
#   --cache, does every unit over tcp with CURVE:
#     - the final weights are those of the run whose trainers read the
#       folder (the same bits: same table, same decoding, same fragments);
#     - the worker fetched the image table, checked it against the TASK's
#       dataset hash, then the source files in pieces of 64 KiB (a PNG here
#       is ~1.5 MB, more than the 1 MiB chunk: files larger than a chunk
#       travel), and clients.csv counts about the training files' bytes
#       (each once: LZ4 does not shrink noise), far below the fragments'
#       decoded records;
#     - a second experiment on the same set, worked by a restarted worker
#       with the same cache, fetches nothing and ends on the same weights.
set -u
. "$(dirname "$0")/fg_test_lib.sh"
fg_test_begin fetchtexture
MAKE_TEXTURE=${MAKE_TEXTURE:-tests/fg_make_texture}

set_="$work/texture"
if ! "$MAKE_TEXTURE" "$set_" 3 4 600 1000 >"$work/make.out" 2>&1; then
    bad "a texture set is written ($(head -c 300 "$work/make.out"))"; fg_test_end; exit 1
fi
tex_exp () {   # tex_exp DIR: the test experiment on the set
    new_exp "$1" --set data.dataset=texture --set "data.path=$set_" --set data.image_size=32 \
        --set data.texture_fragment=256 --set data.texture_stride=128 \
        --set data.texture_rotations=2 --set data.texture_test_share=0.25 \
        --set grid.nodes=2 --set experiment.rounds=1 --set training.local_epochs=1
}

ref="$work/ref"
tex_exp "$ref"
if "$FEDCTL" start "$ref" --local 2 >"$ref.out" 2>&1 && [ "$(state_of "$ref")" = finished ]; then
    ok "reference run (trainers read the folder) finishes"
else
    bad "reference run (trainers read the folder) finishes ($(tail -3 "$ref.out"))"; fg_test_end; exit 1
fi
H=$(final_hash "$ref")
awk -F, 'NR > 1 && $10 + 0 != 0 { bad = 1 } END { exit bad }' "$ref/clients.csv" \
    && ok "reference run: nothing fetched" || bad "reference run: nothing fetched ($(cat "$ref/clients.csv"))"

#   the training images: 3 of the 4 of each class (test_share 0.25)
#   (which ones is drawn per class): between the 9 smallest and the 9
#   largest files' bytes, plus the table and the pieces' heads
sizes=$(find "$set_" -type f -printf '%s\n' | sort -n)
stored=$(echo "$sizes" | awk '{ s += $1 } END { print s }')
small9=$(echo "$sizes" | head -9 | awk '{ s += $1 } END { print s }')
large9=$(echo "$sizes" | tail -9 | awk '{ s += $1 } END { print s }')
largest=$(echo "$sizes" | tail -1)
d="$work/fetch"
tex_exp "$d"
run_fetcher "$d"
check "$d" "a worker without the folder (fresh cache): the reference's final weights"
got=$(fetched_of "$d")
train_low=$((small9 * 90 / 100)); high=$((large9 + large9 / 50 + 65536))
if grep -q "the image table ([0-9]* bytes) matches the dataset hash" "$d.worker" \
   && grep -q "fetching [0-9]* of [0-9]* pieces of the shard's images" "$d.worker"; then
    ok "the worker fetched the image table, checked it, then its images' pieces"
else
    bad "the worker fetched the image table, checked it, then its images' pieces ($(grep -m 5 'fetch\|table' "$d.worker"))"
fi
if [ "$largest" -gt 1048576 ] && [ "$got" -ge "$train_low" ] && [ "$got" -le "$high" ]; then
    ok "clients.csv: $got bytes fetched for 9 training files of $small9..$large9 bytes (largest file $largest, above a 1 MiB chunk)"
else
    bad "clients.csv: fetched bytes $got, expected $train_low..$high (files $stored, largest $largest)"
fi

d2="$work/again"
tex_exp "$d2"
run_fetcher "$d2"
check "$d2" "a restarted worker with the same cache: the reference's final weights"
got2=$(fetched_of "$d2")
if [ "$got2" -eq 0 ] && grep -q "all [0-9]* pieces of the shard's images in the cache" "$d2.worker" \
   && ! grep -q "fetching [0-9]* of" "$d2.worker"; then
    ok "a restarted worker with the same cache fetches nothing"
else
    bad "a restarted worker with the same cache fetches nothing ($got2 bytes; $(grep -m 3 'fetch' "$d2.worker"))"
fi
fg_test_end
