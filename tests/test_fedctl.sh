#!/bin/sh
#   test_fedctl.sh — the fedctl command line: help, version, init for every
#   preset, config check round trip, --set, and every bad-input path (clear
#   message, sysexits code, no file written). TAP output.
set -u
FEDCTL=${FEDCTL:-cli/fedctl}
work=$(mktemp -d /tmp/fg-fedctl-XXXXXX)
trap 'rm -rf "$work"' EXIT
n=0; failed=0
ok () { n=$((n + 1)); echo "ok $n - $1"; }
bad () { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"; }
#   expect CODE NEEDLE DESCRIPTION -- COMMAND...: exit code and stderr text
expect () {
    code=$1; needle=$2; what=$3; shift 4
    "$@" >"$work/out" 2>"$work/err"; got=$?
    if [ "$got" -eq "$code" ] && grep -qF -- "$needle" "$work/err" "$work/out"; then ok "$what"
    else bad "$what (exit $got, want $code; output: $(head -c 300 "$work/err"))"; fi
}

expect 0 "usage: fedctl" "--help prints usage" -- "$FEDCTL" --help
expect 0 "fedctl (fedgrid) 0.1.0" "--version" -- "$FEDCTL" --version
expect 64 "unknown command 'frobnicate'" "unknown command is a usage error" -- "$FEDCTL" frobnicate
expect 64 "unknown option" "unknown global option" -- "$FEDCTL" --frob
expect 64 "usage: fedctl" "no command" -- "$FEDCTL"
expect 0 "usage: fedctl init" "init --help" -- "$FEDCTL" init --help
expect 0 "usage: fedctl config check" "config --help" -- "$FEDCTL" config --help
expect 64 "--slowdown 0.5: expected a factor 1..1000" "worker --slowdown below 1 is refused" -- \
    "$FEDCTL" worker --connect tcp://127.0.0.1:1 --cache "$work/slow" --slowdown 0.5
expect 64 "--slowdown 2,x: expected factors 1..1000" "start --slowdown with a bad factor is refused" -- \
    "$FEDCTL" start "$work/none" --slowdown 2,x

#   every preset: init writes a file that config check reads back to the
#   same canonical text as the preset itself
for preset in $("$FEDCTL" init --help | awk '/^  [a-z0-9-]+ / { print $1 }'); do
    dir="$work/$preset"
    if "$FEDCTL" init "$dir" --preset "$preset" >/dev/null 2>"$work/err" \
       && "$FEDCTL" config check "$dir" >"$work/a" 2>"$work/err" \
       && "$FEDCTL" config check "$dir/fedgrid.toml" >"$work/b" 2>>"$work/err" \
       && cmp -s "$work/a" "$work/b" && grep -q "^# experiment hash: [0-9a-f]\{64\}$" "$work/a"; then
        ok "init + config check round trip: $preset"
    else
        bad "init + config check round trip: $preset ($(head -c 300 "$work/err"))"
    fi
done
[ "$n" -ge 13 ] && ok "at least 6 presets listed" || bad "at least 6 presets listed"

#   preset data paths: $FEDGRID_DATA/<folder>, else /srv/data/<folder>,
#   resolved at init and written into the file; a relative root is refused
(unset FEDGRID_DATA; "$FEDCTL" init "$work/d0" --preset tinyimagenet-mnv3s-quick >/dev/null 2>&1)
FEDGRID_DATA=/data/here "$FEDCTL" init "$work/d1" --preset tinyimagenet-mnv3s-quick >/dev/null 2>&1
FEDGRID_DATA=/data/here "$FEDCTL" init "$work/d2" --preset cifar10-vgg16-iid >/dev/null 2>&1
if grep -q '^path = "/srv/data/tiny-imagenet-200"$' "$work/d0/fedgrid.toml" \
   && grep -q '^path = "/data/here/tiny-imagenet-200"$' "$work/d1/fedgrid.toml" \
   && grep -q '^path = "/data/here/cifar10"$' "$work/d2/fedgrid.toml" \
   && [ "$(FEDGRID_DATA=/elsewhere "$FEDCTL" config check "$work/d1" | grep '^path = ')" = 'path = "/data/here/tiny-imagenet-200"' ] \
   && [ "$("$FEDCTL" config check "$work/d0" | tail -1)" = "$("$FEDCTL" config check "$work/d1" | tail -1)" ]; then
    ok "preset data path from FEDGRID_DATA at init only, not in the hash"
else
    bad "preset data path from FEDGRID_DATA at init only, not in the hash"
fi
expect 78 "FEDGRID_DATA=data is not an absolute path" "relative FEDGRID_DATA is refused" -- \
    env FEDGRID_DATA=data "$FEDCTL" init "$work/d3" --preset tinyimagenet-mnv3s-quick
[ ! -e "$work/d3/fedgrid.toml" ] && ok "refused FEDGRID_DATA writes nothing" || bad "refused FEDGRID_DATA writes nothing"

#   --set at init is written into the file; --set at check overrides it
"$FEDCTL" init "$work/s" --set data.strategy=dynamic --set training.lr=0.125 >/dev/null 2>&1
if grep -q '^strategy = "dynamic"$' "$work/s/fedgrid.toml" && grep -q '^lr = 0.125$' "$work/s/fedgrid.toml"; then
    ok "init writes --set values"; else bad "init writes --set values"; fi
"$FEDCTL" config check "$work/s" --set data.strategy=hybrid >"$work/out" 2>&1
grep -q '^strategy = "hybrid"$' "$work/out" && ok "config check applies --set" || bad "config check applies --set"
h1=$("$FEDCTL" config check "$work/s" | tail -1)
h2=$("$FEDCTL" config check "$work/s" --set grid.local_trainers=9 | tail -1)
h3=$("$FEDCTL" config check "$work/s" --set experiment.seed=9 | tail -1)
[ "$h1" = "$h2" ] && [ "$h1" != "$h3" ] && ok "hash ignores deployment keys, not experiment keys" \
    || bad "hash ignores deployment keys, not experiment keys"

#   bad input: clear message, sysexits code, nothing written
expect 73 "already exists" "init refuses to replace a file" -- "$FEDCTL" init "$work/s"
expect 0 "" "init --force replaces it" -- "$FEDCTL" init "$work/s" --force
expect 64 "unknown preset 'nope'" "unknown preset" -- "$FEDCTL" init "$work/p" --preset nope
[ ! -e "$work/p/fedgrid.toml" ] && ok "unknown preset writes nothing" || bad "unknown preset writes nothing"
expect 78 "--set: grid.nodes = 0: out of range" "out-of-range --set" -- "$FEDCTL" init "$work/q" --set grid.nodes=0
[ ! -e "$work/q/fedgrid.toml" ] && ok "bad --set writes nothing" || bad "bad --set writes nothing"
expect 78 "unknown key 'grid.nodez'" "unknown --set key" -- "$FEDCTL" config check "$work/s" --set grid.nodez=1
expect 64 "init takes exactly one DIR" "init without DIR" -- "$FEDCTL" init
expect 66 "cannot open" "config check of a missing file" -- "$FEDCTL" config check "$work/none.toml"
expect 66 "fedctl init $work/nodir" "missing experiment suggests init" -- "$FEDCTL" config check "$work/nodir"
printf '[experiment]\nseed = 1\n[data]\nbalance = 2\n' > "$work/bad.toml"
expect 78 "bad.toml:4: data.balance = 2: out of range" "config error names file:line" -- "$FEDCTL" config check "$work/bad.toml"
printf '[experiment]\nsead = 1\n' > "$work/typo.toml"
expect 78 "typo.toml:2: unknown key 'experiment.sead'; did you mean 'experiment.seed'" "unknown key names file:line" -- "$FEDCTL" config check "$work/typo.toml"
expect 64 "expected: config check FILE" "config without check" -- "$FEDCTL" config "$work/s"
mkdir -p "$work/ro" && chmod 555 "$work/ro"
if [ "$(id -u)" -ne 0 ]; then
    expect 73 "cannot write" "init into a read-only folder" -- "$FEDCTL" init "$work/ro"
else
    ok "init into a read-only folder # SKIP root ignores permissions"
fi

#   fedctl train: the centralised baseline, resumable bit for bit
t="$work/train"
"$FEDCTL" init "$t" --preset synthetic-tiny --set training.epochs=3 --set grid.threads=1 >/dev/null 2>&1
if "$FEDCTL" train "$t" >"$work/train.out" 2>"$work/err" && grep -q "^epoch 3/3 " "$work/train.out" \
   && [ -s "$t/train/model.fgb" ] && [ -s "$t/train/model.safetensors" ] && [ "$(wc -l < "$t/train/epochs.csv")" -eq 4 ] \
   && grep -q "^fedctl: time (wall / cpu s): start-up .*, final write " "$work/err"; then
    ok "train runs every epoch, writes the model files and says where the time went"
else
    bad "train runs every epoch, writes the model files and says where the time went ($(head -c 300 "$work/err"))"
fi
h_train=$(sed -n 's/^final weights .* sha256 //p' "$work/train.out")
expect 0 "test accuracy" "eval of the trained model" -- "$FEDCTL" eval "$t" --model "$t/train/model.fgb"
#   the safetensors export reads back to the same weights: the same line
"$FEDCTL" eval "$t" --model "$t/train/model.fgb" >"$work/eval_fgb.out" 2>&1
if "$FEDCTL" eval "$t" --model "$t/train/model.safetensors" >"$work/eval_st.out" 2>&1 \
   && grep -q "test accuracy" "$work/eval_st.out" && cmp -s "$work/eval_fgb.out" "$work/eval_st.out"; then
    ok "eval of the safetensors export prints what eval of the blob prints"
else
    bad "eval of the safetensors export prints what eval of the blob prints ($(cat "$work/eval_st.out"))"
fi
#   a safetensors file that lies about a span is refused, naming it
head -c 8 "$t/train/model.safetensors" > "$work/short.safetensors"
expect 65 "short.safetensors" "eval of a safetensors file shorter than its header" -- \
    "$FEDCTL" eval "$t" --model "$work/short.safetensors"
#   killed -9 after its first checkpoint, run again: the same final weights
t2="$work/train2"
"$FEDCTL" init "$t2" --preset synthetic-tiny --set training.epochs=3 --set grid.threads=1 >/dev/null 2>&1
"$FEDCTL" train "$t2" >/dev/null 2>&1 &
victim=$!
for i in $(seq 1 200); do ls "$t2"/train/*.ckpt >/dev/null 2>&1 && break; sleep 0.05; done
kill -9 "$victim" 2>/dev/null; wait "$victim" 2>/dev/null
"$FEDCTL" train "$t2" >"$work/train2.out" 2>"$work/err"
h_resumed=$(sed -n 's/^final weights .* sha256 //p' "$work/train2.out")
if [ -n "$h_train" ] && [ "$h_train" = "$h_resumed" ]; then ok "train killed -9 and run again: same final weights"
else bad "train killed -9 and run again: same final weights ($h_train vs $h_resumed)"; fi
expect 0 "sha256 $h_train" "train on a finished run only rewrites the model" -- "$FEDCTL" train "$t"
expect 66 "cannot open" "eval of a missing model file" -- "$FEDCTL" eval "$t" --model "$work/none.fgb"
printf 'not a blob' > "$work/bad.fgb"
expect 65 "bad.fgb" "eval of a corrupt model file" -- "$FEDCTL" eval "$t" --model "$work/bad.fgb"

#   CURVE keys: keygen, and every bad key file refused with its name
k="$work/keys"
expect 0 "$k/coordinator.key_secret (secret, mode 0600)" "keygen writes a key pair" -- "$FEDCTL" keygen "$k"
if [ "$(stat -c %a "$k/coordinator.key_secret")" = 600 ] && grep -q 'public-key = "' "$k/coordinator.key" \
   && ! grep -q secret-key "$k/coordinator.key"; then ok "keygen: secret file mode 600, public file without the secret"
else bad "keygen: secret file mode 600, public file without the secret"; fi
expect 73 "a key pair exists already" "keygen never overwrites a pair" -- "$FEDCTL" keygen "$k"
expect 64 "usage: fedctl keygen" "keygen without DIR" -- "$FEDCTL" keygen
w="$work/worker-cache"; printf 'curve\n    public-key = "short"\n' > "$work/bad.key"
expect 78 "$work/bad.key:2: public-key must be 40" "worker: a malformed --server-key file is named" -- \
    "$FEDCTL" worker --connect tcp://127.0.0.1:1 --cache "$w" --dataset synthetic --train-limit 100 --server-key "$work/bad.key"
expect 66 "neither a file nor a 40-character" "worker: a --server-key that is neither file nor key" -- \
    "$FEDCTL" worker --connect tcp://127.0.0.1:1 --cache "$w" --dataset synthetic --train-limit 100 --server-key nope
"$FEDCTL" keygen "$w" --name worker.key >/dev/null 2>&1; chmod 644 "$w/worker.key_secret"
expect 78 "$w/worker.key_secret: secret key readable" "worker: its secret key readable by others is refused" -- \
    "$FEDCTL" worker --connect tcp://127.0.0.1:1 --cache "$w" --dataset synthetic --train-limit 100 --server-key "$k/coordinator.key"
e="$work/secure"; "$FEDCTL" init "$e" --preset synthetic-tiny >/dev/null 2>&1
"$FEDCTL" keygen "$e" >/dev/null 2>&1; chmod 640 "$e/coordinator.key_secret"
expect 78 "$e/coordinator.key_secret: secret key readable" "start: the coordinator's secret key readable by others is refused" -- \
    "$FEDCTL" start "$e" --local 0 --listen 'tcp://127.0.0.1:*'
chmod 600 "$e/coordinator.key_secret"; mkdir -p "$e/allowed"; printf 'junk\n' > "$e/allowed/w1.key"
expect 78 "$e/allowed/w1.key: not a certificate" "start: a malformed file in grid.allow_keys is named" -- \
    "$FEDCTL" start "$e" --local 0 --listen 'tcp://127.0.0.1:*' --set grid.allow_keys=allowed
expect 78 "grid.allow_ip: '10.0.0.0/8'" "start: a bad grid.allow_ip is refused" -- \
    "$FEDCTL" start "$e" --local 0 --listen 'tcp://127.0.0.1:*' --set grid.allow_ip=10.0.0.0/8
if [ ! -e "$e/journal.lmdb" ]; then ok "start refused for its keys writes no journal"
else bad "start refused for its keys writes no journal"; fi

#   what a new user types wrong: a clear message that says what to do
: > "$work/empty.toml"
expect 78 "empty.toml: sets no key (an empty file?); \`fedctl init DIR\`" "an empty configuration file is refused" -- \
    "$FEDCTL" config check "$work/empty.toml"
printf '[data]\naugment = true\n[grid]\nnodes = 2\n[data]\nbalance = 0.5\n' > "$work/dup.toml"
expect 78 "dup.toml:5: [data] appears twice (first on line 1)" "a duplicated [section] is refused" -- \
    "$FEDCTL" config check "$work/dup.toml"
printf '\177ELF\002\001\001\000\000\000' > "$work/binary.toml"
expect 78 "binary.toml:1: byte 0x7F at column 1 is not TOML text" "a binary configuration file is named, not echoed" -- \
    "$FEDCTL" config check "$work/binary.toml"
if LC_ALL=C grep -q '[^[:print:][:space:]]' "$work/err"; then bad "the binary file's error is printable text"
else ok "the binary file's error is printable text"; fi
expect 78 "did you mean 'data.dataset'? (keys of [data]: dataset path" "a --set typo names the nearest key and the section's keys" -- \
    "$FEDCTL" init "$work/typo" --set data.datset=cifar10
expect 64 "did you mean 'tcp://127.0.0.1:7799'?" "worker --connect without tcp:// is refused at once" -- \
    "$FEDCTL" worker --connect 127.0.0.1:7799 --cache "$work/wc"
expect 64 "'tcp://300.1.1.1:x': the host is not an IPv4 address" "worker --connect to a malformed address is refused at once" -- \
    "$FEDCTL" worker --connect tcp://300.1.1.1:x --cache "$work/wc"
expect 78 "grid.listen: endpoint 'tcp://*:70000': the port is not a number" "a malformed grid.listen is refused" -- \
    "$FEDCTL" config check "$work/s" --set grid.listen=tcp://*:70000
"$FEDCTL" init "$work/cv" --preset cifar10-vgg16-iid --set data.path="$work/no-such-folder" >/dev/null 2>&1
expect 66 "point it at the cifar10 folder with --set data.path=DIR" "a missing dataset folder says how to set data.path" -- \
    "$FEDCTL" start "$work/cv" --local 1
f="$work/finished"; "$FEDCTL" init "$f" --preset synthetic-tiny >/dev/null 2>&1
"$FEDCTL" start "$f" --local 2 >/dev/null 2>&1; cp "$f/status.json" "$work/status.before" 2>/dev/null
expect 0 "$f is finished: round 3 of 3 committed, nothing to resume" "resume of a finished experiment says so" -- \
    "$FEDCTL" resume "$f" --local 2
#   after the end, status.json and status --json tell the same state
field_ () { sed -n "s/.*\"$2\": \([^,}]*\).*/\1/p" "$1"; }
"$FEDCTL" status "$f" --json > "$work/st.json" 2>/dev/null
same=yes
for k in state round rounds nodes_alive units_in_flight eta_s; do
    [ "$(field_ "$f/status.json" $k | sed 's/\.0*$//')" = "$(field_ "$work/st.json" $k | sed 's/\.0*$//')" ] || same="no ($k)"
done
[ "$same" = yes ] && ok "after the end, status.json and status --json agree" \
    || bad "after the end, status.json and status --json agree: $same: $(cat "$f/status.json" "$work/st.json")"
#   after a stop (SIGINT mid-run), too: state stopped, the last committed round
stopdir="$work/interrupted"; "$FEDCTL" init "$stopdir" --preset synthetic-tiny --set experiment.rounds=1000 >/dev/null 2>&1
"$FEDCTL" start "$stopdir" --local 2 >/dev/null 2>&1 & spid=$!
waited=0; while [ "$(wc -l < "$stopdir/rounds.csv" 2>/dev/null || echo 0)" -lt 3 ] && [ $waited -lt 600 ]; do sleep 0.1; waited=$((waited + 1)); done
kill -INT $spid; wait $spid
"$FEDCTL" status "$stopdir" --json > "$work/st2.json" 2>/dev/null
same=yes
for k in state round rounds nodes_alive units_in_flight eta_s; do
    [ "$(field_ "$stopdir/status.json" $k | sed 's/\.0*$//')" = "$(field_ "$work/st2.json" $k | sed 's/\.0*$//')" ] || same="no ($k)"
done
[ "$same" = yes ] && [ "$(field_ "$stopdir/status.json" state)" = '"stopped"' ] \
    && ok "after a stop, status.json and status --json agree (stopped)" \
    || bad "after a stop, status.json and status --json agree: $same: $(cat "$stopdir/status.json" "$work/st2.json")"
expect 64 "-o $f/w.pt: unknown format; fedctl export writes FILE.fgb" "export refuses an unknown extension and names the formats" -- \
    "$FEDCTL" export "$f" -o "$f/w.pt"
if cmp -s "$f/status.json" "$work/status.before" && ! grep -q trainer "$work/err"; then
    ok "resume of a finished experiment starts nothing"
else bad "resume of a finished experiment starts nothing"; fi

#   on a terminal the live status line is cleared and drawn again around
#   log lines: no log line starts after the live line's text
if command -v script >/dev/null 2>&1; then
    l="$work/live"; "$FEDCTL" init "$l" --preset synthetic-tiny --set experiment.rounds=4 >/dev/null 2>&1
    FEDGRID_LOG=debug script -qec "$FEDCTL start $l --local 3" /dev/null > "$work/live.raw" 2>&1
    drawn=$(grep -ac 'units done' "$work/live.raw"); logged=$(grep -ac 'fedgrid: debug' "$work/live.raw")
    glued=$(sed 's/\x1b\[[0-9;]*[mK]//g' "$work/live.raw" | grep -ac '[^[:space:]]fedgrid: ')
    if [ "$drawn" -gt 0 ] && [ "$logged" -gt 0 ] && [ "$glued" -eq 0 ]; then
        ok "live line and log lines never share a line ($drawn live lines, $logged log lines)"
    else bad "live line and log lines never share a line ($drawn live, $logged log, $glued glued)"; fi
else
    ok "live line and log lines never share a line # SKIP no script(1) for a terminal"
fi

expect 0 "journal.round.before" "debug crashpoints lists the points" -- "$FEDCTL" debug crashpoints
expect 64 "usage: fedctl debug" "debug without a subcommand" -- "$FEDCTL" debug
#   debug shards: a round's shards (static IID: 4 x 200 of 800 synthetic
#   samples, disjoint, covering them); bench/torch_fedavg.py checks the
#   content against its own partition (tests/test_torch_fedavg.sh)
d="$work/shards"; "$FEDCTL" init "$d" --preset synthetic-tiny >/dev/null 2>&1
"$FEDCTL" debug shards "$d" 2 > "$work/shards.out" 2>"$work/err"
sizes=$(cut -d' ' -f2 "$work/shards.out" | tr '\n' ' ')
cover=$(cut -d' ' -f3- "$work/shards.out" | tr ' ' '\n' | sort -n | uniq | awk 'NR - 1 == $1 { n++ } END { print n }')
if [ "$sizes" = "200 200 200 200 " ] && [ "$cover" = 800 ]; then ok "debug shards prints 4 disjoint shards of 200 covering 800 samples"
else bad "debug shards prints 4 disjoint shards of 200 covering 800 samples (sizes $sizes, cover $cover; $(head -c 200 "$work/err"))"; fi
expect 64 "usage: fedctl debug shards DIR ROUND" "debug shards without a round" -- "$FEDCTL" debug shards "$d"
expect 64 "usage: fedctl debug shards DIR ROUND" "debug shards with a bad round" -- "$FEDCTL" debug shards "$d" 1x
#   export --round 0: the initial weights, without a journal; a function of the seed
"$FEDCTL" export "$d" --round 0 -o "$work/a.fgb" > "$work/a.out" 2>"$work/err"
"$FEDCTL" export "$d" --round 0 -o "$work/b.fgb" --set experiment.seed=2 > "$work/b.out" 2>>"$work/err"
"$FEDCTL" export "$d" --round 0 -o "$work/c.safetensors" > "$work/c.out" 2>>"$work/err"
ha=$(sed -n 's/.*weights of round 0, sha256 \([0-9a-f]*\)$/\1/p' "$work/a.out")
hb=$(sed -n 's/.*weights of round 0, sha256 \([0-9a-f]*\)$/\1/p' "$work/b.out")
hc=$(sed -n 's/.*weights of round 0, sha256 \([0-9a-f]*\)$/\1/p' "$work/c.out")
if [ -n "$ha" ] && [ "$ha" = "$hc" ] && [ -n "$hb" ] && [ "$ha" != "$hb" ] && [ ! -e "$d/journal.lmdb" ]; then
    ok "export --round 0 writes the seed's initial weights without a journal"
else bad "export --round 0 writes the seed's initial weights without a journal ($ha $hb $hc; $(head -c 200 "$work/err"))"; fi

echo "1..$n"
[ "$failed" -eq 0 ]
