#!/bin/sh
#   fuzz/smoke.sh SRCDIR OUTDIR HARNESS... — builds each libFuzzer harness with
#   clang -fsanitize=fuzzer,address,undefined and fuzzes it for FUZZ_SECONDS
#   from its committed corpus (a scratch copy: the corpus is not modified).
#   Prints one TAP line per harness with executions per second. A harness
#   that needs link flags names them in a line "fuzz-ldflags: FLAGS" of its
#   header comment (fuzz_coordinator.c: its clock wraps zclock_mono).
set -u
srcdir=$1; out=$2; shift 2
mkdir -p "$out/obj" "$out/artifacts"
flags="-g -O1 -std=c11 -D_GNU_SOURCE -ffp-contract=off -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all"
ignore="$srcdir/fuzz/coverage-ignore.txt"
flags="$flags -fsanitize-coverage-ignorelist=$ignore"
objs=""
for src in $FUZZ_SOURCES; do
    obj="$out/obj/$(echo "$src" | tr / _).o"
    if [ ! -f "$obj" ] || [ "$srcdir/$src" -nt "$obj" ] || [ "$ignore" -nt "$obj" ]; then
        $FUZZ_CC $flags $FUZZ_CPPFLAGS -c "$srcdir/$src" -o "$obj" || exit 1
    fi
    objs="$objs $obj"
done
n=0; failed=0
echo "1..$#"
for h in "$@"; do
    n=$((n + 1))
    bin="$out/fuzz_$h"
    ldflags=$(sed -n 's/^ *fuzz-ldflags: *//p' "$srcdir/fuzz/fuzz_$h.c" | head -n 1)
    $FUZZ_CC $flags -fsanitize=fuzzer $FUZZ_CPPFLAGS "$srcdir/fuzz/fuzz_$h.c" $objs $FUZZ_LIBS $ldflags -o "$bin" || { echo "not ok $n - fuzz_$h: build failed"; failed=$((failed + 1)); continue; }
    work="$out/corpus_$h"; rm -rf "$work"; mkdir -p "$work"
    cp "$srcdir/fuzz/corpus/$h/"* "$work/" 2>/dev/null
    dict=""; [ -f "$srcdir/fuzz/dict/$h.dict" ] && dict="-dict=$srcdir/fuzz/dict/$h.dict"
    log="$out/fuzz_$h.log"
    if "$bin" $dict -max_total_time="$FUZZ_SECONDS" -rss_limit_mb=2048 -timeout=20 \
          -artifact_prefix="$out/artifacts/$h-" -print_final_stats=1 "$work" >"$log" 2>&1; then
        runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
        secs=$(sed -n 's/^stat::.*total_time.*: *//p' "$log" | tail -1)
        rate=$(awk -v r="${runs:-0}" -v s="$FUZZ_SECONDS" 'BEGIN { printf "%d", r / s }')
        echo "ok $n - fuzz_$h: ${runs:-?} runs in ${FUZZ_SECONDS} s (${rate} exec/s), clean"
    else
        echo "not ok $n - fuzz_$h: crash or sanitizer report, see $log and $out/artifacts"
        tail -40 "$log" | sed 's/^/# /'
        failed=$((failed + 1))
    fi
done
[ $failed -eq 0 ]
