#!/bin/sh
#   test_study.sh — scripts/study end to end on its test plan (two
#   synthetic-tiny experiments of 2 rounds, passes to rounds 1 and 2):
#     - plan prints every experiment's fedctl init command and its cost;
#     - run is interrupted (scripts/study stop) after the first commit: its
#       fedctl stops cleanly, a second run meanwhile is refused by the lock;
#     - results then says "round N of 2 (not finished)" / "(not started)"
#       with N what the journal committed, and keeps a hand-written section
#       outside its markers (twice: the generated part is replaced, not added);
#     - run again finishes both; the interrupted one ends with the weights of
#       an uninterrupted fedctl start of the same configuration; a third run
#       starts nothing;
#     - results then says "round 2 of 2" with no "not finished", its tables
#       hold the accuracies of rounds.csv, and every chart it links exists.
. "$(dirname "$0")/fg_test_lib.sh"
fg_test_begin study

study="${top_srcdir:-$(dirname "$0")/..}/scripts/study"
runs="$work/runs"; docs="$work/docs"
st () { "$study" --plan test --runs "$runs" --docs "$docs" --fedctl "$FEDCTL" --nice 0 "$@"; }
rounds_of () { awk -F, 'NR > 1 { n = $1 } END { print n + 0 }' "$1/rounds.csv" 2>/dev/null || echo 0; }

st plan >"$work/plan.out" 2>&1
if grep -q "fedctl init $runs/tiny-skew-dynamic --preset synthetic-tiny --set grid.nodes=2 --set experiment.rounds=2 .*--set data.strategy=dynamic" "$work/plan.out" \
   && [ "$(grep -c '^  cost: ' "$work/plan.out")" -eq 2 ]; then ok "plan: each experiment's init command and cost"
else bad "plan: each experiment's init command and cost ($(head -c 600 "$work/plan.out"))"; fi

#   a hand-written section that results must keep
mkdir -p "$docs"
printf '# Results\n\n## A hand-written section\n\nkept as it is\n' >"$docs/results.md"

#   interrupted run: stopped once the first experiment committed round 1
st run >"$work/run1.out" 2>&1 &
run=$!; pids="$pids $run"
for t in $(seq 1 600); do
    [ "$(rounds_of "$runs/tiny-iid")" -ge 1 ] && break
    kill -0 "$run" 2>/dev/null || break; sleep 0.05
done
if ! st run >"$work/run2.out" 2>&1 && grep -q "another .scripts/study run. uses" "$work/run2.out"; then
    ok "a second run is refused while one runs"
else bad "a second run is refused while one runs ($(cat "$work/run2.out"))"; fi
st stop >"$work/stop.out" 2>&1
for t in $(seq 1 600); do kill -0 "$run" 2>/dev/null || break; sleep 0.05; done
if ! kill -0 "$run" 2>/dev/null && [ ! -e "$runs/study.pid" ] && ! pgrep -f "$runs/tiny" >/dev/null; then
    ok "stop: the run and its fedctl ended"
else bad "stop: the run and its fedctl ended ($(cat "$work/stop.out"))"; fi

#   (a pass stops fedctl by TERM once the pass's round is committed: on a
#   quiet machine a round of this plan can take less than that, so tiny-iid
#   may have run on to its last round; the study as a whole is unfinished)
n1=$(rounds_of "$runs/tiny-iid"); n2=$(rounds_of "$runs/tiny-skew-dynamic")
[ "$n1" -ge 1 ] && [ "$(state_of "$runs/tiny-skew-dynamic")" != finished ] \
    && ok "interrupted: tiny-iid at round $n1 of 2, tiny-skew-dynamic not finished" \
    || bad "interrupted: tiny-iid at round $n1 of 2 ($(state_of "$runs/tiny-skew-dynamic"); $(cat "$work/run1.out"))"

st results >"$work/res1.out" 2>&1 && st results >>"$work/res1.out" 2>&1 \
    || bad "results of an unfinished study ($(cat "$work/res1.out"))"
md="$docs/results.md"
want1="round $n1 of 2 (not finished)"; [ "$n1" -lt 2 ] || want1="round 2 of 2"
want2="round $n2 of 2 (not finished)"; [ -e "$runs/tiny-skew-dynamic/journal.lmdb" ] || want2="round 0 of 2 (not started)"
if grep -q "^| tiny-iid | .* | $want1 | [^|]* |$" "$md" \
   && grep -q "^| tiny-skew-dynamic | .* | $want2 | [^|]* |$" "$md"; then
    ok "results: round N of M, marked not finished (tiny-iid: $want1, tiny-skew-dynamic: $want2)"
else bad "results: round N of M, marked not finished ($(grep '^| tiny' "$md" | head -4))"; fi
if [ "$(grep -c '^## A hand-written section$' "$md")" -eq 1 ] && grep -q '^kept as it is$' "$md" \
   && [ "$(grep -c '^<!-- scripts/study results: begin' "$md")" -eq 1 ] \
   && [ "$(grep -c '^## The study, scaled' "$md")" -eq 1 ]; then
    ok "results keeps the hand-written section and replaces its own"
else bad "results keeps the hand-written section and replaces its own"; fi

#   resumed: both finish; the interrupted one as if never interrupted
st run >"$work/run3.out" 2>&1 || bad "run again ($(tail -5 "$work/run3.out"))"
r="$work/ref"
# shellcheck disable=SC2046
"$FEDCTL" init "$r" --preset synthetic-tiny $(sed -n "s|^  fedctl init $runs/tiny-iid --preset synthetic-tiny ||p" "$work/plan.out") >/dev/null 2>&1
"$FEDCTL" start "$r" --set grid.threads=1 >"$r.out" 2>&1
h=$(final_hash "$runs/tiny-iid")
if [ "$(state_of "$runs/tiny-iid")" = finished ] && [ "$(state_of "$runs/tiny-skew-dynamic")" = finished ] \
   && [ -n "$h" ] && [ "$h" = "$(final_hash "$r")" ]; then
    ok "run again finishes both; the interrupted one has the uninterrupted weights"
else bad "run again finishes both ($h vs $(final_hash "$r"); $(tail -3 "$work/run3.out"))"; fi
st run >"$work/run4.out" 2>&1
if ! grep -q ': \(start\|resume\),' "$work/run4.out" && grep -q "every experiment asked for is finished" "$work/run4.out"; then
    ok "a finished study: run starts nothing"
else bad "a finished study: run starts nothing ($(cat "$work/run4.out"))"; fi

st results >"$work/res2.out" 2>&1 || bad "results ($(cat "$work/res2.out"))"
acc=$(awk -F, 'NR == 3 { printf "%.2f %%", $2 * 100 }' "$runs/tiny-iid/rounds.csv")
if grep -q "^| tiny-iid | .* | $acc (round 2) | .* | round 2 of 2 | [0-9]* |$" "$md" && ! grep -q '(not finished) |\|(not started) |' "$md" \
   && grep -q "^| 2 | $acc |" "$md"; then ok "results: round 2 of 2, the accuracy of rounds.csv ($acc)"
else bad "results: round 2 of 2, the accuracy of rounds.csv ($acc; $(grep '^| tiny-iid\|^| 2 |' "$md"))"; fi
missing=""; links=0
for f in $(grep -o '(results/[^)]*\.svg)' "$md" | tr -d '()'); do
    links=$((links + 1)); [ -s "$docs/$f" ] || missing="$missing $f"
done
#   two groups: tiny (2 experiments: 2 + 3 x 2 charts), strategies (1: 2 + 3)
[ "$links" -eq 13 ] && [ -z "$missing" ] && [ "$(ls "$docs"/results/*/*.svg | wc -l)" -eq 13 ] \
    && ok "every chart it links exists ($links)" || bad "every chart it links exists ($links links, missing:$missing)"
[ "$(grep -c '^## A hand-written section$' "$md")" -eq 1 ] && ok "the hand-written section is still there" \
    || bad "the hand-written section is still there"
fg_test_end
