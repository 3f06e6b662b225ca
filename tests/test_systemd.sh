#!/bin/sh
#   test_systemd.sh — contrib/systemd's units: `systemd-analyze verify`
#   accepts fedgrid-worker.service and an instance of fedgrid-worker@.service
#   without a single warning (an unknown key or a bad value is only a
#   warning to systemd, so any output fails), with ExecStart pointed at the
#   built fedctl; each unit restarts on failure, starts at boot, keeps its
#   cache in its StateDirectory, runs as a dedicated user and reads the
#   endpoint and key from an EnvironmentFile; every option ExecStart gives
#   fedctl worker is one `fedctl worker --help` lists. Skipped without
#   systemd-analyze. TAP output; run from the build folder.
set -u
FEDCTL=${FEDCTL:-cli/fedctl}
src=${top_srcdir:-..}
work=$(mktemp -d /tmp/fg-systemd-XXXXXX)
trap 'rm -rf "$work"' EXIT
n=0; failed=0
ok () { n=$((n + 1)); echo "ok $n - $1"; }
bad () { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"; }
command -v systemd-analyze >/dev/null 2>&1 \
    || { echo "1..0 # SKIP systemd-analyze not found (Debian package systemd)"; exit 0; }
fedctl_abs=$(cd "$(dirname "$FEDCTL")" && pwd)/$(basename "$FEDCTL")
"$FEDCTL" worker --help >"$work/help" 2>&1

for unit in fedgrid-worker.service fedgrid-worker@.service; do
    file="$src/contrib/systemd/$unit"
    as=$unit; [ "$unit" = fedgrid-worker@.service ] && as=fedgrid-worker@test.service
    sed "s|^ExecStart=/usr/local/bin/fedctl |ExecStart=$fedctl_abs |" "$file" >"$work/$as"
    out=$(cd "$work" && systemd-analyze verify --man=no "./$as" 2>&1); rc=$?
    if [ "$rc" -eq 0 ] && [ -z "$out" ]; then ok "$unit: systemd-analyze verify is silent"
    else bad "$unit: systemd-analyze verify (exit $rc): $(echo "$out" | head -5)"; fi
    missing=""
    for want in '^Restart=on-failure$' '^WantedBy=multi-user.target$' '^StateDirectory=fedgrid-worker' \
                '^DynamicUser=yes$' '^EnvironmentFile=/etc/fedgrid/worker' '--cache %S/fedgrid-worker' \
                '--connect ${FEDGRID_CONNECT}' '--server-key ${FEDGRID_SERVER_KEY}'; do
        grep -q -e "$want" "$file" || missing="$missing '$want'"
    done
    if [ -z "$missing" ]; then ok "$unit: restart on failure, at boot, state dir, own user, environment file"
    else bad "$unit lacks:$missing"; fi
    missing=""
    for o in $(sed -n 's/^ExecStart=//p' "$file" | grep -o -- '--[a-z][a-z-]*'); do
        grep -q -- "$o\b" "$work/help" || missing="$missing $o"
    done
    if [ -z "$missing" ]; then ok "$unit: ExecStart's options are fedctl worker's"
    else bad "$unit: fedctl worker has no$missing"; fi
done
echo "1..$n"
[ "$failed" -eq 0 ]
