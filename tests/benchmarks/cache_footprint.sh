#!/usr/bin/env bash
# Cache lines a cache-cold hello request misses, from callgrind's cache
# simulation: stable where timings on this shared machine are not.
#
# In the server every request finds the CPU caches evicted by the kernel and
# the other threads, and what it costs beyond its instructions is one miss
# per cache line of code and data it touches. This runs `mtd-run --tenant
# hello.elf --cold 1024` (1 MiB of other memory written between requests)
# under callgrind with a 512 KiB last-level cache (this machine's L2 per
# core) and a 2 KiB first-level instruction cache, so that every line of
# code a request runs is counted too, not only its data. Runs of 1,000 and
# 3,000 requests are subtracted, which leaves the per-request figures
# without the load and the first requests.
#
#   tests/benchmarks/cache_footprint.sh          (~2 minutes)
#
# Prints per request: host instructions, instruction lines missed, data
# lines missed on reads and on writes (the cold writer's own are taken out).
# A second pair of runs simulates 4 KiB "lines" (a 64-entry last level the
# cold writer's 256 pages flush): the host pages of code and data a request
# touches, each a TLB entry to refill (a nested page walk in a VM).
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=.venv/bin/python
command -v valgrind >/dev/null || { echo "needs valgrind (apt-get install valgrind)" >&2; exit 1; }
OUT=build/cache_footprint
mkdir -p "$OUT"
# The tools, and how much other memory to write, are bench_sandbox.py's.
read -r MTD_RUN ELF COLD_KIB < <("$PY" - <<'EOF'
import sys
from pathlib import Path
sys.path.insert(0, "tests/benchmarks")
import bench_sandbox
print(bench_sandbox.build_mtd_run(), bench_sandbox.build_hello(Path("build/bench/tenant-cache")),
      bench_sandbox.COLD_KIB)
EOF
)
simulate() {  # name requests cache-options...
    local name=$1 n=$2
    shift 2
    valgrind --tool=callgrind --cache-sim=yes "$@" --callgrind-out-file="$OUT/$name.$n" \
        "$MTD_RUN" --tenant "$ELF" --requests "$n" --cold "$COLD_KIB" >"$OUT/$name.$n.log" 2>&1
}
for n in 1000 3000; do
    simulate cg "$n" --LL=524288,8,64 --D1=32768,8,64 --I1=2048,2,64
    simulate pages "$n" --LL=262144,64,4096 --D1=8192,2,4096 --I1=8192,2,4096
done
"$PY" - "$OUT" "$COLD_KIB" <<'EOF'
import re, sys
out, cold_kib = sys.argv[1], int(sys.argv[2])

def totals(n, run="cg"):
    text = open(f"{out}/{run}.{n}.log").read()
    num = lambda pattern: int(re.search(pattern, text).group(1).replace(",", ""))
    return (num(r"I\s+refs:\s+([\d,]+)"), num(r"LLi misses:\s+([\d,]+)"),
            num(r"LLd misses:\s+[\d,]+\s+\(\s*([\d,]+) rd"), num(r"LLd misses:.*\+\s*([\d,]+) wr"))

per = [(b - a) / 2000 for a, b in zip(totals(1000), totals(3000))]
cold_lines = cold_kib * 1024 // 64
# The cold writer misses one line per 64 bytes it writes, in 4 instructions.
print("per cache-cold hello request (callgrind, 512 KiB last level):")
print(f"  instruction lines missed  {per[1]:7.1f}")
print(f"  data lines missed, read   {per[2]:7.1f}")
print(f"  data lines missed, write  {per[3] - cold_lines:7.1f}")
print(f"  host instructions         {per[0] - cold_lines * 4:7,.0f} (less the cold writer's 4 per line, ~{cold_lines * 4:,})")
pages = [(b - a) / 2000 for a, b in zip(totals(1000, "pages"), totals(3000, "pages"))]
print("host pages touched (4 KiB):")
print(f"  code                      {pages[1]:7.1f}")
print(f"  data                      {pages[2] + pages[3] - cold_kib // 4:7.1f}")
EOF
