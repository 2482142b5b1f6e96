#!/usr/bin/env bash
# Which way of comparing two servers is most precise for the quickstart's time on this machine:
# the quickstart's cases (configs/quick.json: SET, GET, LPUSH at pipelines 1 and 16) compared
# three ways, one after the other in one go:
#   sequential    solo runs, A B / B A rounds (`--runs SEQ_ROUNDS`, the quickstart before)
#   duet          both servers at once, pinning crossed and swapped (`--duet --runs DUET_ROUNDS`)
#   instructions  the same cases counted under callgrind (`requests` 20 000, one run a side per
#                 round, `--runs INSTR_ROUNDS`)
# Prints per mode the wall time and, per case, the half-width of the paired 95 % interval of
# the new/baseline ratio (rps, or instructions per request) from `valkey-perf compare`.
#
# Usage: bench/quickstart-modes.sh [BASELINE_BIN NEW_BIN] [SEQ_ROUNDS (3)] [DUET_ROUNDS (6)]
#        [INSTR_ROUNDS (3)]
# Environment: VALKEY_PERF (default target/release/valkey-perf), VALKEY_PERF_DEPS (.deps),
# MODES (some of "sequential duet instructions").
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
bin="${VALKEY_PERF:-$root/target/release/valkey-perf}"
[ -x "$bin" ] || { echo "build it first: cargo build --release -p valkey-perf ($bin)" >&2; exit 2; }
deps="${VALKEY_PERF_DEPS:-$root/.deps}"
base="${1:-$deps/valkey-8.1.8/valkey-server}"
new="${2:-$deps/valkey-9.1.2/valkey-server}"
seq_rounds="${3:-3}"
duet_rounds="${4:-6}"
instr_rounds="${5:-3}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

python3 - "$root/configs/quick.json" "$work" <<'PY'
import json, sys
quick = json.load(open(sys.argv[1]))
json.dump([dict(o, duet=True) for o in quick], open(sys.argv[2] + "/duet.json", "w"))
instr = []
for o in quick:
    o = {k: v for k, v in o.items() if k not in ("duration", "server_cpu_range", "client_cpu_range")}
    instr.append(dict(o, requests=[20000], warmup=0, benchmark_mode="instructions"))
json.dump(instr, open(sys.argv[2] + "/instructions.json", "w"))
PY

measure() { # name config metric rounds extra-flags...
  local name="$1" config="$2" metric="$3" rounds="$4"; shift 4
  local start end code=0
  start=$(date +%s.%N)
  "$bin" run --config "$config" --results-dir "$work/$name" --log-level warn \
    --baseline-server-bin "$base" --server-bin "$new" --runs "$rounds" "$@" \
    >/dev/null 2>"$work/$name.log" || code=$?
  end=$(date +%s.%N)
  # 6: a regression was found, which is a finished comparison too.
  if [ "$code" -ne 0 ] && [ "$code" -ne 6 ]; then tail -20 "$work/$name.log" >&2; exit 1; fi
  local b n
  b=$(grep -l "\"$base\"" "$work/$name"/*/metrics.json | head -1)
  n=$(grep -l "\"$new\"" "$work/$name"/*/metrics.json | head -1)
  "$bin" compare --baseline "$b" --new "$n" --format json 2>/dev/null > "$work/$name.json" || true
  python3 - "$name" "$rounds" "$start" "$end" "$metric" "$work/$name.json" >> "$work/summary" <<'PY'
import json, sys
name, rounds, start, end, metric, path = sys.argv[1:]
cases = json.load(open(path))["cases"]
widths = []
for c in cases:
    m = next(m for m in c["metrics"] if m["metric"] == metric)
    lo, hi = m["difference"]["pct_change_ci95"]
    widths.append(f"{c['label']}: {m['difference']['pct_change']:+.1f} % ±{(hi - lo) / 2:.2f}")
print(f"{name}\t{rounds}\t{float(end) - float(start):.0f}\t" + "\t".join(widths))
PY
  tail -1 "$work/summary" >&2
}

# MODES picks some of them (default: all three).
for mode in ${MODES:-sequential duet instructions}; do
  case "$mode" in
    sequential) measure sequential "$root/configs/quick.json" rps "$seq_rounds" ;;
    duet) measure duet "$work/duet.json" rps "$duet_rounds" ;;
    instructions) measure instructions "$work/instructions.json" instructions_per_request "$instr_rounds" ;;
    *) echo "unknown mode $mode (sequential, duet, instructions)" >&2; exit 2 ;;
  esac
done
python3 - "$work/summary" <<'PY'
import sys
for line in open(sys.argv[1]):
    name, rounds, wall, *cases = line.rstrip("\n").split("\t")
    print(f"{name}: {rounds} rounds, {wall} s")
    for c in cases:
        print(f"  {c}")
PY
