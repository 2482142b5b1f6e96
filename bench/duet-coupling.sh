#!/usr/bin/env bash
# What a duet's crossed pinning does to a known change (README, duet runs): one valkey-server
# against itself with a planted cost (`--slowlog-log-slower-than 0`, every command logged),
# GET at pipelines 1 and 16 with 50 clients, 3 s windows, measured one after the other (A B,
# B A rounds) and as a duet. Prints per mode and pipeline the change in rps and in server CPU
# per request (from `valkey-perf compare`) and the duet runs' client / server CPU per request:
# the duet's rps change follows the solo one while the client spends less CPU per request than
# the server, and can turn against it once the client spends as much.
#
# Usage: bench/duet-coupling.sh SERVER_BIN [ROUNDS (6)]
# Environment: VALKEY_PERF (default target/release/valkey-perf).
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
bin="${VALKEY_PERF:-$root/target/release/valkey-perf}"
[ -x "$bin" ] || { echo "build it first: cargo build --release -p valkey-perf ($bin)" >&2; exit 2; }
server="${1:?usage: $0 SERVER_BIN [ROUNDS]}"
[ -x "$server" ] || { echo "$server: not an executable valkey-server" >&2; exit 2; }
rounds="${2:-6}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

cp "$server" "$work/base"
printf '#!/bin/sh\nexec "%s" "$@" --slowlog-log-slower-than 0\n' "$server" > "$work/planted"
chmod +x "$work/planted"
cat > "$work/config.json" <<'JSON'
[{"duration": 3, "keyspacelen": [100000], "data_sizes": [64], "pipelines": [1, 16],
  "clients": [50], "commands": ["GET"], "server_cpu_range": "0", "client_cpu_range": "1"}]
JSON

measure() { # mode extra-flags...
  local mode="$1"; shift
  "$bin" run --config "$work/config.json" --results-dir "$work/$mode" --log-level warn \
    --baseline-server-bin "$work/base" --server-bin "$work/planted" --runs "$rounds" "$@" \
    >/dev/null 2>"$work/$mode.log" || { tail -20 "$work/$mode.log" >&2; exit 1; }
  local files=("$work/$mode"/*/metrics.json) base new
  if grep -q "$work/base\"" "${files[0]}"; then base="${files[0]}"; new="${files[1]}"; else base="${files[1]}"; new="${files[0]}"; fi
  "$bin" compare --baseline "$base" --new "$new" --format json 2>/dev/null > "$work/$mode.json"
  python3 - "$mode" "$work/$mode.json" "$base" "$new" <<'PY'
import json, sys
mode, report, *sides = sys.argv[1:]
cmp = json.load(open(report))
ratios = {}
for path in sides:
    for r in json.load(open(path)):
        d = r.get("run_details", {})
        busy = sum(d.get("client_thread_busy_share") or [0])
        if r.get("duet") and d.get("requests_completed") and d.get("server_cpu_us_per_request"):
            c = busy * r["duration"] * 1e6 / d["requests_completed"]
            ratios.setdefault(r["pipeline"], []).append(c / d["server_cpu_us_per_request"])
for case in cmp["cases"]:
    p = next(x["value"] for x in case["params"] if x["name"] == "pipeline")
    m = {x["field"]: x for x in case["metrics"]}
    def change(f):
        x = m.get(f, {}).get("difference") or {}
        lo, hi = x.get("pct_change_ci95") or [float("nan")] * 2
        return f"{x.get('pct_change', float('nan')):+6.1f} % ({lo:+.1f} … {hi:+.1f})"
    r = ratios.get(p, [])
    cs = f"{min(r):.2f}–{max(r):.2f}" if r else "–"
    print(f"{mode:<11} {case['label']:<12} rps {change('rps')}  server CPU/request "
          f"{change('server_cpu_us_per_request')}  client/server CPU {cs}")
PY
}

echo "planted: --slowlog-log-slower-than 0 on $server, $rounds rounds a mode"
measure sequential
measure duet --duet
