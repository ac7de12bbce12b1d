#!/usr/bin/env bash
# Instructions per request on the request path, from callgrind: stable where
# timings on this shared machine are not. Runs the headless server (one worker
# thread, bundled tenants) under valgrind with instrumentation off, then for
# each of / (hello, sandboxed) and /_mtd/vanilla: warms up, turns it on, sends
# N requests on one keep-alive connection with the built-in generator, dumps.
# Only the worker's event loop is counted (--toggle-collect=h2o_evloop_run),
# so Python's once-a-second stats line is left out.
#
#   tests/benchmarks/callgrind_request.sh [N]        (default 5000; ~2 minutes)
#
# Prints instructions per request and the request path's functions
# (inclusive, per request); the dumps stay in build/callgrind/ for
# callgrind_annotate (--tree=calling shows who calls what).
set -euo pipefail
cd "$(dirname "$0")/../.."
N=${1:-5000}
OUT=build/callgrind
PY=.venv/bin/python
command -v valgrind >/dev/null || { echo "needs valgrind (apt-get install valgrind)" >&2; exit 1; }
mkdir -p "$OUT"
rm -f "$OUT"/cg.* "$OUT"/server.log

valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$OUT/cg.%p" \
    --toggle-collect=h2o_evloop_run \
    "$PY" -m mtd.tui.main --no-tui --no-watch --port 0 --admin-port -1 --threads 1 \
    >"$OUT/server.log" 2>&1 &
VG=$!
trap 'kill $VG 2>/dev/null || true' EXIT
for _ in $(seq 300); do
    grep -q "serving on" "$OUT/server.log" && break
    kill -0 $VG 2>/dev/null || { cat "$OUT/server.log" >&2; exit 1; }
    sleep 1
done
PORT=$(sed -n 's|.*serving on http://[^:]*:\([0-9]*\)/.*|\1|p' "$OUT/server.log" | head -1)

load() {  # path requests
    "$PY" - "$PORT" "$1" "$2" <<'EOF'
import sys
from mtd import _core
port, path, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
g = _core.LoadGenerator(address="127.0.0.1", port=port, path=path, threads=1, connections=1,
                        duration=600, requests=n)
g.start()
r = g.wait()
if r["status"]["2xx"] != n:
    sys.exit(f"{path}: {r['status']} {r['errors']}")
EOF
}

for run in hello:/ vanilla:/_mtd/vanilla; do
    label=${run%%:*} path=${run#*:}
    load "$path" 300
    callgrind_control -i on $VG >/dev/null 2>&1
    callgrind_control -z $VG >/dev/null 2>&1
    load "$path" "$N"
    callgrind_control -d "$label" $VG >/dev/null 2>&1
    callgrind_control -i off $VG >/dev/null 2>&1
done
kill $VG
wait $VG 2>/dev/null || true
trap - EXIT

for label in hello vanilla; do
    f=$(grep -l "desc: Trigger: dump $label" "$OUT"/cg.*)
    total=$(sed -n 's/^totals: //p' "$f")
    echo "$label: $((total / N)) instructions per request (worker thread, user space; $f)"
    callgrind_annotate --inclusive=yes "$f" 2>/dev/null |
        grep -E '^ *[0-9]' | grep -E 'RequestHandler::|Machine::handle|interpret\(|fork_from|h2o_send |normalize_host|RoutingTable::find|clock_gettime|sprintf_chk' |
        sed -E 's/ *\[[^]]*\]$//; s/ \( *[0-9.]+%\) +/ /; s/\?\?\?://; s/\(.*//; s/ [^ ]*:(__sprintf_chk|clock_gettime)/ \1/' |
        awk -v n="$N" '{ gsub(",", "", $1); printf "  %8d  %s\n", $1 / n, $2 }'
done
