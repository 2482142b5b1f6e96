#!/usr/bin/env bash
# How precise an A/A comparison gets in about the same wall time, one after the other (A B,
# B A rounds) against duet runs (both targets at once, pinning crossed and swapped): two
# copies of one valkey-server, GET at pipeline 1 with 50 clients, 3 s windows. Prints per mode
# the rounds, the wall time, the sd of the per-round log ratios and the paired 95 % interval's
# half-width of the rps ratio (from `valkey-perf compare`), and the duet/sequential ratios of
# both, measured in the same run.
#
# Usage: bench/duet-precision.sh SERVER_BIN [SEQUENTIAL_ROUNDS (8)] [DUET_ROUNDS (12)]
# Environment: VALKEY_PERF (default target/release/valkey-perf).
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
bin="${VALKEY_PERF:-$root/target/release/valkey-perf}"
[ -x "$bin" ] || { echo "build it first: cargo build --release -p valkey-perf ($bin)" >&2; exit 2; }
server="${1:?usage: $0 SERVER_BIN [SEQUENTIAL_ROUNDS] [DUET_ROUNDS]}"
seq_rounds="${2:-8}"
duet_rounds="${3:-12}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

cp "$server" "$work/a"
cp "$server" "$work/b" && printf '\n' >> "$work/b"
cat > "$work/config.json" <<'JSON'
[{"duration": 3, "keyspacelen": 10000, "data_sizes": [16], "pipelines": [1], "clients": [50],
  "commands": ["GET"]}]
JSON

measure() { # name rounds extra-flags...
  local name="$1" rounds="$2"; shift 2
  local start end
  start=$(date +%s.%N)
  "$bin" run --config "$work/config.json" --results-dir "$work/$name" --log-level warn \
    --baseline-server-bin "$work/a" --server-bin "$work/b" --runs "$rounds" "$@" \
    >/dev/null 2>"$work/$name.log" || { tail -20 "$work/$name.log" >&2; exit 1; }
  end=$(date +%s.%N)
  local files=("$work/$name"/*/metrics.json)
  local base new
  if grep -q "$work/a\"" "${files[0]}"; then base="${files[0]}"; new="${files[1]}"; else base="${files[1]}"; new="${files[0]}"; fi
  "$bin" compare --baseline "$base" --new "$new" --metrics rps --format json 2>/dev/null \
    > "$work/$name.json"
  python3 - "$name" "$rounds" "$start" "$end" "$work/$name.json" >> "$work/summary" <<'PY'
import json, math, sys
name, rounds, start, end, path = sys.argv[1:]
m = json.load(open(path))["cases"][0]["metrics"][0]
logs = [math.log(n / b) for b, n in zip(m["baseline_values"], m["new_values"])]
mean = sum(logs) / len(logs)
sd = math.sqrt(sum((x - mean) ** 2 for x in logs) / (len(logs) - 1))
lo, hi = m["difference"]["pct_change_ci95"]
print(f"{name} {rounds} {float(end) - float(start):.1f} {sd * 100:.2f} {(hi - lo) / 2:.2f} "
      f"{m['difference']['pct_change']:+.2f} {m['verdict']}")
PY
}

measure sequential "$seq_rounds"
measure duet "$duet_rounds" --duet
python3 - "$work/summary" <<'PY'
import sys
rows = [l.split() for l in open(sys.argv[1])]
print(f"{'mode':<11} {'rounds':>6} {'wall s':>7} {'sd %':>6} {'±CI95 %':>8} {'A/A %':>7}  verdict")
for r in rows:
    print(f"{r[0]:<11} {r[1]:>6} {r[2]:>7} {r[3]:>6} {r[4]:>8} {r[5]:>7}  {r[6]}")
s, d = rows
print(f"duet / sequential: wall {float(d[2]) / float(s[2]):.2f}, sd {float(d[3]) / float(s[3]):.2f}, "
      f"half-width {float(d[4]) / float(s[4]):.2f}")
PY
