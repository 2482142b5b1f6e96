#!/usr/bin/env bash
# How `valkey-perf compare` scales: one case with 20 000 paired runs a side (pairing is by
# hash, O(n)), and two files of 50 000 records each (1 000 cases × 50 runs, between two
# invocations). Generates the files here (python3), then prints per workload the wall time and
# peak RSS of `compare` (/usr/bin/time -v) and, as the reference measured in the same run, the
# time python3 takes only to parse the same two files; the ratio is compare / parse.
# Targets: 20 000 pairs < 1 s; 2 × 50 000 records < 2 s and < 500 MB.
#
# Environment: VALKEY_PERF (default target/release/valkey-perf).
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
bin="${VALKEY_PERF:-$root/target/release/valkey-perf}"
[ -x "$bin" ] || { echo "build it first: cargo build --release -p valkey-perf ($bin)" >&2; exit 2; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

python3 - "$work" <<'PY'
import json, random, sys
out = sys.argv[1]
rnd = random.Random(1)
def rec(cmd, inv, i, rps, size=64):
    return {"command": cmd, "data_size": size, "invocation_id": inv, "run_index": i,
            "rps": rps, "avg_latency_ms": 100000.0 / rps, "p50_latency_ms": 0.127,
            "p99_latency_ms": 0.5 + rnd.random() / 10}
# One case, 20 000 rounds of one invocation: paired.
for side, f in (("a", 1.0), ("b", 0.98)):
    rows = [rec("GET", "one", i, f * 100000 * rnd.lognormvariate(0, 0.05)) for i in range(20000)]
    json.dump(rows, open(f"{out}/pairs-{side}.json", "w"))
# 1 000 cases × 50 runs, two invocations.
for side, inv in (("a", "x"), ("b", "y")):
    rows = [rec(f"CMD{c % 50}", inv, i, 100000 * rnd.lognormvariate(0, 0.05), size=c)
            for c in range(1000) for i in range(50)]
    json.dump(rows, open(f"{out}/big-{side}.json", "w"))
PY

measure() { # name, baseline, new
    local name="$1" a="$2" b="$3"
    /usr/bin/time -v "$bin" compare --format json --baseline "$a" --new "$b" \
        --output "$work/out.json" 2>"$work/time.txt" >/dev/null || true
    local secs rss
    secs=$(awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,t,":"); s=0; for(i=1;i<=n;i++) s=s*60+t[i]; print s}' "$work/time.txt")
    rss=$(awk -F': ' '/Maximum resident set size/ {printf "%.0f", $2/1024}' "$work/time.txt")
    local ref
    ref=$(python3 -c 'import json,sys,time; t=time.time(); [json.load(open(f)) for f in sys.argv[1:]]; print(f"{time.time()-t:.3f}")' "$a" "$b")
    printf '%-34s compare %6.2f s  peak RSS %5s MB  | python parse %6.3f s  ratio %5.2f\n' \
        "$name" "$secs" "$rss" "$ref" "$(python3 -c "print($secs / max($ref, 1e-3))")"
}

measure "1 case, 20 000 paired runs a side" "$work/pairs-a.json" "$work/pairs-b.json"
measure "2 x 50 000 records (1 000 cases)" "$work/big-a.json" "$work/big-b.json"
