#!/bin/sh
#   test_journal_cli.sh — the journal never crashes its readers, with the
#   real fedctl on a real experiment (TAP output):
#     - a compacted backup restored beside its mark opens;
#     - truncated to 8 KiB, to half its size and to one page short of what
#       its last commit uses: `journal verify`, `status`, `journal dump`
#       and `resume` each refuse it (exit 65, no signal), say what is wrong
#       and what to do, and change nothing;
#     - a 0-byte journal.lmdb, and a journal gone beside its journal.mark:
#       resume refuses, never starts from scratch;
#     - a flipped byte in LMDB's newer meta page (LMDB falls back to the
#       older one and round 2 vanishes): verify, status, dump and resume
#       refuse it naming both rounds; removing the mark as the message says
#       resumes to the reference weights;
#     - a crash between a round's commit and its mark (crash point
#       journal.mark.before): the journal one round ahead is sound, and
#       resume ends with the reference weights and an up-to-date mark;
#       an experiment without a mark (older than it) opens and gets one;
#       a damaged mark is refused;
#     - a full disk (a 2 MiB tmpfs, when this runs as root and may mount):
#       resume, export and the mark say "disk full" and name the file.
set -u
full=""
fg_test_cleanup () { mountpoint -q "$full" 2>/dev/null && umount "$full"; }
. "$(dirname "$0")/fg_test_lib.sh"
fg_test_begin jcli
full="$work/full"
#   expect CODE DESCRIPTION NEEDLE... -- COMMAND...: exit code, every needle in the output
expect () {
    code_=$1; what_=$2; shift 2
    needles_=""
    while [ "$1" != "--" ]; do needles_="$needles_$1
"; shift; done
    shift
    "$@" >"$work/out" 2>&1; got_=$?
    miss_=$(printf '%s' "$needles_" | while IFS= read -r w_; do
        [ -n "$w_" ] && ! grep -qF -- "$w_" "$work/out" && echo "'$w_'"; done)
    if [ "$got_" -eq "$code_" ] && [ -z "$miss_" ]; then ok "$what_"
    else bad "$what_ (exit $got_, want $code_; missing $miss_; output: $(head -c 400 "$work/out"))"; fi
}
#   the preset as it is (fg_test_lib's new_exp also sets heartbeats and epochs)
new_exp () { "$FEDCTL" init "$1" --preset synthetic-tiny >/dev/null 2>&1; }
mark_round () { sed -n 's/^round //p' "$1/journal.mark" 2>/dev/null; }
u64_at () { od -An -t u8 -j "$2" -N 8 "$1" | tr -d ' '; }
page_size () { od -An -t u4 -j 40 -N 4 "$1" | tr -d ' '; }
#   newer_meta FILE: offset of the newer meta page (by transaction id)
newer_meta () {
    ps_=$(page_size "$1")
    if [ "$(u64_at "$1" $((ps_ + 144)))" -gt "$(u64_at "$1" 144)" ]; then echo "$ps_"; else echo 0; fi
}
#   flip_newer_meta FILE: clears the highest set bit of the newer meta page's
#   transaction id (one byte changes), so it falls below the older one's
flip_newer_meta () {
    at_=$(( $(newer_meta "$1") + 144 )); t_=$(u64_at "$1" "$at_")
    b_=1; while [ $((b_ * 2)) -le "$t_" ]; do b_=$((b_ * 2)); done
    v_=$((t_ - b_)); byte_=0
    while [ "$b_" -ge 256 ]; do b_=$((b_ / 256)); byte_=$((byte_ + 1)); done
    printf "$(printf '\\%03o' $(( (v_ >> (8 * byte_)) & 255 )))" \
        | dd of="$1" bs=1 seek=$((at_ + byte_)) conv=notrunc 2>/dev/null
}

#   the reference: one uninterrupted run
ref="$work/ref"; new_exp "$ref"
"$FEDCTL" start "$ref" >/dev/null 2>&1
hash_ref=$(final_hash "$ref")
if [ -n "$hash_ref" ] && [ "$(mark_round "$ref")" = 3 ]; then ok "a finished run leaves journal.mark at round 3"
else bad "a finished run leaves journal.mark at round 3 (hash '$hash_ref', mark '$(mark_round "$ref")')"; fi

#   a compacting hot backup (it restarts LMDB's transaction ids) restored
#   beside the mark: the round and its weights are there, so it opens
if command -v mdb_copy >/dev/null 2>&1; then
    d="$work/backup"; cp -a "$ref" "$d"; rm -f "$d/journal.lmdb" "$d/journal.lmdb-lock"
    mdb_copy -n -c "$ref/journal.lmdb" "$d/journal.lmdb"
    expect 0 "a compacted backup (mdb_copy -n -c) beside the mark: verify OK" "OK: rounds 1..3 committed" -- \
        "$FEDCTL" journal verify "$d"
    expect 0 "a compacted backup beside the mark: resume opens it" "is finished: round" -- "$FEDCTL" resume "$d"
else
    ok "compacted backup # SKIP no mdb_copy (lmdb-utils)"
fi

#   truncated: 8 KiB, half, one page short of the pages in use
j="$ref/journal.lmdb"
size=$(stat -c %s "$j"); ps=$(page_size "$j")
used=$(( ($(u64_at "$j" $(( $(newer_meta "$j") + 136 ))) + 1) * ps ))
for cut in 8192 $((size / 2)) $((used - ps)); do
    for cmd in "journal verify" status "journal dump" resume; do
        d="$work/cut-$cut"; rm -rf "$d"; cp -a "$ref" "$d"; truncate -s "$cut" "$d/journal.lmdb"
        # shellcheck disable=SC2086
        expect 65 "journal of $cut of $size bytes: $cmd refuses it" "is truncated: $cut bytes" \
            "restore it from a backup" "fedctl start NEW" -- "$FEDCTL" $cmd "$d"
    done
    if [ "$(stat -c %s "$d/journal.lmdb")" -eq "$cut" ] && cmp -s "$ref/rounds.csv" "$d/rounds.csv"; then
        ok "refused resume of $cut bytes changed nothing"
    else bad "refused resume of $cut bytes changed nothing"; fi
done

#   0 bytes: refused, never a new experiment
d="$work/empty"; cp -a "$ref" "$d"; : > "$d/journal.lmdb"
expect 65 "0-byte journal: resume refuses it" "is empty (0 bytes)" "fedctl start NEW" -- "$FEDCTL" resume "$d"
expect 65 "0-byte journal: status refuses it" "is empty (0 bytes)" -- "$FEDCTL" status "$d"
[ ! -s "$d/journal.lmdb" ] && cmp -s "$ref/rounds.csv" "$d/rounds.csv" \
    && ok "0-byte journal: nothing restarted" || bad "0-byte journal: nothing restarted"
#   gone, its mark left: refused, nothing created
d="$work/gone"; cp -a "$ref" "$d"; rm -f "$d/journal.lmdb" "$d/journal.lmdb-lock"
expect 65 "journal gone beside its mark: resume refuses" "journal.lmdb is missing, but" \
    "says round 3 was committed" -- "$FEDCTL" resume "$d"
expect 65 "journal gone beside its mark: status says so" "journal.lmdb is missing, but" -- "$FEDCTL" status "$d"
expect 65 "journal gone beside its mark: start refuses too" "says round 3 was committed" -- "$FEDCTL" start "$d"
[ ! -e "$d/journal.lmdb" ] && ok "journal gone: resume and start created nothing" \
    || bad "journal gone: resume and start created nothing"

#   the meta-page rollback: killed right after round 2's commit (its
#   transaction is the newest), then the newer meta page damaged
d="$work/flip"; new_exp "$d"
FEDGRID_CRASH=journal.round.after:2 "$FEDCTL" start "$d" >/dev/null 2>&1
if [ "$(mark_round "$d")" = 2 ] && "$FEDCTL" journal verify "$d" >/dev/null 2>&1; then
    ok "killed after round 2's commit: mark at round 2, journal sound"
else bad "killed after round 2's commit: mark at round 2, journal sound (mark '$(mark_round "$d")')"; fi
flip_newer_meta "$d/journal.lmdb"
expect 65 "meta rollback: verify reports it" "journal.mark: " "committed rounds up to 1" \
    "says round 2 was committed" "Restore the journal from a backup" -- "$FEDCTL" journal verify "$d"
for cmd in status "journal dump" resume; do
    # shellcheck disable=SC2086
    expect 65 "meta rollback: $cmd refuses it" "committed rounds up to 1" "says round 2 was committed" \
        "remove journal.mark to accept the older state" -- "$FEDCTL" $cmd "$d"
done
rm "$d/journal.mark"
"$FEDCTL" resume "$d" >/dev/null 2>&1
h=$(final_hash "$d")
[ "$h" = "$hash_ref" ] && [ "$(mark_round "$d")" = 3 ] && ok "mark removed as told: resume recomputes round 2, same weights" \
    || bad "mark removed as told: resume recomputes round 2, same weights ($h vs $hash_ref)"

#   the crash window: killed between round 2's commit and its mark
d="$work/window"; new_exp "$d"
FEDGRID_CRASH=journal.mark.before:2 "$FEDCTL" start "$d" >/dev/null 2>&1
[ "$(mark_round "$d")" = 1 ] && ok "killed before round 2's mark: the mark says round 1" \
    || bad "killed before round 2's mark: the mark says round 1 ('$(mark_round "$d")')"
expect 0 "journal one round ahead of its mark: verify OK" "OK: rounds 1..2 committed" -- "$FEDCTL" journal verify "$d"
expect 0 "journal one round ahead of its mark: status" "round       2 of 3 committed" -- "$FEDCTL" status "$d"
"$FEDCTL" resume "$d" >/dev/null 2>&1
h=$(final_hash "$d")
[ "$h" = "$hash_ref" ] && [ "$(mark_round "$d")" = 3 ] && ok "resumed after the window: same weights, mark at round 3" \
    || bad "resumed after the window: same weights, mark at round 3 ($h, mark '$(mark_round "$d")')"

#   an experiment older than the mark, and a damaged mark
d="$work/old"; new_exp "$d"
FEDGRID_CRASH=journal.round.after:1 "$FEDCTL" start "$d" >/dev/null 2>&1
rm -f "$d/journal.mark"
expect 0 "no mark (older experiment): verify OK" "OK: rounds 1..1 committed" -- "$FEDCTL" journal verify "$d"
"$FEDCTL" resume "$d" >/dev/null 2>&1
[ "$(final_hash "$d")" = "$hash_ref" ] && [ "$(mark_round "$d")" = 3 ] \
    && ok "no mark: resume finishes and writes one" || bad "no mark: resume finishes and writes one"
sed -i 's/^round 3$/round 9/' "$d/journal.mark"
expect 65 "damaged mark: resume refuses it" "journal.mark is damaged" "fedctl journal verify" -- "$FEDCTL" resume "$d"
expect 65 "damaged mark: verify reports it" "journal.mark is damaged" -- "$FEDCTL" journal verify "$d"

#   a full disk: the reason, and the file, in every message
mkdir -p "$full"
if [ "$(id -u)" -ne 0 ] || ! mount -t tmpfs -o size=24m tmpfs "$full" 2>/dev/null; then
    ok "full disk # SKIP needs root and tmpfs mounts (mount -t tmpfs)"
else
    d="$full/e"; new_exp "$d"
    FEDGRID_CRASH=journal.mark.before:1 "$FEDCTL" start "$d" >/dev/null 2>&1
    dd if=/dev/zero of="$full/fill" bs=4k 2>/dev/null
    expect 74 "full disk: resume names the mark and says disk full" "$d/journal.mark: cannot write" \
        "disk full (No space left on device)" "round 1 is committed" -- "$FEDCTL" resume "$d"
    expect 73 "full disk: export says disk full" "$full/w.fgb: cannot write" "disk full" -- \
        "$FEDCTL" export "$d" -o "$full/w.fgb"
    #   room again: resume writes the mark (killed before round 2 commits)
    rm -f "$full/fill"
    FEDGRID_CRASH=journal.round.before:1 "$FEDCTL" resume "$d" >/dev/null 2>&1
    [ "$(mark_round "$d")" = 1 ] && ok "room again: resume wrote the mark" || bad "room again: resume wrote the mark"
    dd if=/dev/zero of="$full/fill" bs=4k 2>/dev/null
    expect 74 "full disk: resume names rounds.csv and says disk full" "$d/rounds.csv: cannot write" \
        "disk full (No space left on device)" -- "$FEDCTL" resume "$d"
fi

fg_test_end
