#!/bin/sh
#   test_report_page.sh — fedctl report on a real experiment, rendered by a browser:
#     - a short real run (the synthetic-tiny preset) drawn: the page and one
#       SVG file per chart (--svg), two folders overlaid and labelled by the
#       key in which they differ (the second folder holds the first's files
#       under another configuration: it tests the drawing, not learning);
#     - a config string holding <script> shows as text, never as markup;
#     - a clients.csv being appended (a cut-short last line) still draws,
#       and says so; a damaged field is refused with file:line;
#     - the same inputs give the same bytes;
#     - Debian's chromium loads the page headless: the DOM has every chart
#       with drawn paths, the console has no message (no script runs: the
#       page's CSP allows none), and a screenshot of the accuracy chart has
#       coloured pixels inside its plot area. Skipped, with the reason,
#       where chromium is missing or cannot start.
. "$(dirname "$0")/fg_test_lib.sh"
fg_test_begin report

e="$work/exp"; new_exp "$e" --set grid.threads=1
if "$FEDCTL" start "$e" >"$e.out" 2>&1 && [ "$(state_of "$e")" = finished ]; then
    ok "a short real experiment runs"
else bad "a short real experiment runs ($(tail -3 "$e.out"))"; fi

#   a second folder: the first one's files under another configuration,
#   with a string that is markup
x="$work/other"
new_exp "$x" --set grid.threads=1 --set 'grid.allow_keys=<script>alert(1)</script>'
cp "$e/rounds.csv" "$e/clients.csv" "$x/"

page="$work/page.html"; svgs="$work/svg"
if "$FEDCTL" report "$e" "$x" -o "$page" --svg "$svgs" >"$work/report.out" 2>&1; then
    ok "fedctl report draws two folders"
else bad "fedctl report draws two folders ($(cat "$work/report.out"))"; fi
n_svg=$(ls "$svgs"/*.svg 2>/dev/null | wc -l)
[ "$n_svg" -eq 8 ] && ok "--svg writes each chart as its own file" \
    || bad "--svg writes each chart as its own file ($n_svg files: $(ls "$svgs" 2>&1 | tr '\n' ' '))"
rounds=$(($(wc -l <"$e/rounds.csv") - 1))
paths=$(grep -c '<path fill="none" stroke="[^"]*" stroke-width="1.6"[^>]* d="M' "$svgs/accuracy.svg")
[ "$rounds" -eq 3 ] && [ "$paths" -eq 2 ] && ok "accuracy: a line per experiment over $rounds rounds" \
    || bad "accuracy: a line per experiment ($paths lines, $rounds rounds)"
joined=$(grep -c 'class="event"><title>vm-local-[0-9]*: joined' "$svgs/timeline-1.svg")
[ "$joined" -ge 1 ] && ok "the timeline marks the nodes' joins from the journal ($joined)" \
    || bad "the timeline marks the nodes' joins from the journal ($(grep -c 'joined' "$svgs/timeline-1.svg"))"
grep -q '>grid.allow_keys = &quot;&lt;script&gt;alert(1)&lt;/script&gt;&quot;</text>' "$svgs/accuracy.svg" \
    && ok "overlays are labelled by the key in which the experiments differ" \
    || bad "overlays are labelled by the key in which the experiments differ ($(grep -o 'class="legend">[^<]*' "$svgs/accuracy.svg" | head -2))"
if ! grep -qi '<script' "$page" && grep -q 'allow_keys = &quot;&lt;script&gt;' "$page"; then
    ok "a configuration string with <script> is text, not markup"
else bad "a configuration string with <script> is text, not markup"; fi
hash=$("$FEDCTL" config check "$e" 2>/dev/null | sed -n 's/^# experiment hash: //p')
[ -n "$hash" ] && grep -q "<code>$hash</code>" "$page" \
    && ok "the page shows the experiment hash" || bad "the page shows the experiment hash (${hash:-none})"
"$FEDCTL" report "$e" "$x" -o "$work/again.html" >/dev/null 2>&1
cmp -s "$page" "$work/again.html" && ok "same inputs, same bytes" || bad "same inputs, same bytes"

#   a running experiment: clients.csv cut inside a row
r="$work/running"; cp -a "$e" "$r"; printf '4,0,vm-local-0,1,200,1.87' >>"$r/clients.csv"
if "$FEDCTL" report "$r" -o "$r/p.html" >"$r.out" 2>&1 && grep -q 'clients.csv: line [0-9]* is cut short' "$r/p.html"; then
    ok "a row being appended is left out and noted"
else bad "a row being appended is left out and noted ($(cat "$r.out"))"; fi
#   a damaged field: refused, named
d="$work/damaged"; cp -a "$e" "$d"
awk -F, -v OFS=, 'NR == 3 { $3 = "0.x" } { print }' "$e/rounds.csv" >"$d/rounds.csv"
"$FEDCTL" report "$d" -o "$d/p.html" >"$d.out" 2>&1; rc=$?
[ "$rc" -eq 78 ] && grep -q 'rounds.csv:3: column test_loss: "0.x"' "$d.out" && [ ! -e "$d/p.html" ] \
    && ok "a damaged field is refused with file:line" \
    || bad "a damaged field is refused with file:line (exit $rc: $(cat "$d.out"))"

#   a restart rebuilds rounds.csv from the journal: a row's time split is
#   kept from the file it replaces; a row that file lost has none, and its
#   round is drawn as "not split: not recorded"
#   (an experiment stopped by a crash after round 2's commit, before its
#   row: resume of a finished one starts nothing)
k="$work/rebuilt"; mkdir -p "$k"; cp "$e/fedgrid.toml" "$k/"
FEDGRID_CRASH=journal.round.after:2 "$FEDCTL" start "$k" >"$k.out" 2>&1
sed -i '3,$d; 2s/^\(\([^,]*,\)\{9\}\)[^,]*,/\19.999,/' "$k/rounds.csv"
"$FEDCTL" resume "$k" >"$k.out" 2>&1
if [ "$(cut -d, -f1,10 "$k/rounds.csv" | sed -n 2,3p | tr '\n' ' ')" = "1,9.999 2, " ] \
   && [ "$(sed -n 3p "$k/rounds.csv" | cut -d, -f10-)" = ",,,," ] \
   && "$FEDCTL" report "$k" -o "$k/p.html" >/dev/null 2>&1 && grep -q 'round 2: not split' "$k/p.html"; then
    ok "a restart keeps the time split rounds.csv had; a lost row's is not recorded"
else bad "a restart keeps the time split rounds.csv had ($(cut -d, -f1,10- "$k/rounds.csv" | tr '\n' ' '); $(tail -1 "$k.out"))"; fi

#   ---- the browser ----------------------------------------------------------
chromium=$(command -v chromium || true)
cr_run () {   # cr_run OUT ERR ARGS...: headless chromium, its own profile, 60 s at most
    o_=$1; e_=$2; shift 2
    timeout 60 "$chromium" --headless --disable-gpu --no-sandbox --no-first-run \
        --user-data-dir="$work/chromium" --enable-logging=stderr --v=0 "$@" >"$o_" 2>"$e_"
}
skip=""
if [ -z "$chromium" ]; then skip="chromium not installed (apt-get install chromium)"
else
    echo '<!DOCTYPE html><p>probe</p>' >"$work/probe.html"
    cr_run "$work/probe.dom" "$work/probe.err" --dump-dom "file://$work/probe.html"
    grep -q '<p>probe</p>' "$work/probe.dom" \
        || skip="chromium cannot run here: $(grep -v 'dbus\|^$' "$work/probe.err" | head -1)"
fi
if [ -n "$skip" ]; then
    ok "chromium draws the page # SKIP $skip"
    ok "chromium console # SKIP $skip"
    ok "chromium screenshot # SKIP $skip"
    fg_test_end; exit
fi
cr_run "$work/page.dom" "$work/page.err" --dump-dom "file://$page"
charts=$(grep -o '<svg xmlns' "$work/page.dom" | wc -l)
drawn=$(grep -o '<path fill="none" stroke="[^"]*" stroke-width="1.6" d="M[0-9]' "$work/page.dom" | wc -l)
copies=$(grep -o 'class="copy"' "$work/page.dom" | wc -l)
phases=$(grep -o 'class="phase"' "$work/page.dom" | wc -l)
#   2 overlays of 2 lines and 2 experiments x 4 shard lines; a bar per row
#   of clients.csv; 5 phases per round
rows=$((2 * ($(wc -l <"$e/clients.csv") - 1)))
if [ "$charts" -eq 8 ] && [ "$drawn" -eq 12 ] && [ "$copies" -eq "$rows" ] && [ "$phases" -eq $((2 * rounds * 5)) ]; then
    ok "chromium draws the page: 8 charts, 12 lines, $rows copies, $phases phases"
else bad "chromium draws the page ($charts charts, $drawn lines, $copies copies, $phases phases)"; fi
if grep -q 'CONSOLE' "$work/page.err"; then bad "chromium console: $(grep CONSOLE "$work/page.err" | head -3)"
else ok "chromium console has no message"; fi
cr_run "$work/shot.out" "$work/shot.err" --hide-scrollbars --window-size=720,360 \
    --screenshot="$work/accuracy.png" "file://$svgs/accuracy.svg"
#   coloured pixels (not grey: the frame, grid and text are grey) inside the
#   plot area (x 64..704, y 28..320) of the accuracy chart
coloured=$(/usr/bin/python3 - "$work/accuracy.png" <<'EOF' 2>&1
import sys
from PIL import Image
im = Image.open(sys.argv[1]).convert("RGB")
n = 0
for y in range(28, 320):
    for x in range(64, 704):
        r, g, b = im.getpixel((x, y))
        n += max(r, g, b) - min(r, g, b) > 60
print(n)
EOF
)
case "$coloured" in
    *[!0-9]*|"") ok "chromium screenshot # SKIP no python3-pil to read it ($coloured)" ;;
    *) [ "$coloured" -gt 300 ] && ok "chromium screenshot: the accuracy chart has $coloured coloured pixels in its plot" \
           || bad "chromium screenshot: the accuracy chart has $coloured coloured pixels in its plot ($(head -2 "$work/shot.err"))" ;;
esac
fg_test_end
