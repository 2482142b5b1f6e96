#!/usr/bin/env bash
# Native load generator vs redis-benchmark (and valkey-benchmark when $VALKEY_BENCHMARK is
# set), measured in the same run: server pinned to CPU 0, clients pinned to CPU 1, the tools
# alternating, RUNS times each, for GET and SET, 50 clients, -d 64, pipelines 1 and 16.
#
# Prints per case the median rps of each tool, the ratio of medians (native / reference)
# and the median client CPU seconds (user + sys, from the OS via /usr/bin/time) per million
# requests and its ratio. Targets: CPU/Mreq <= 0.85x at P1, <= 0.6x at P16; rps >= 1.0x.
#
# Environment: VALKEY_PERF (default target/release/valkey-perf), VALKEY_SERVER (default the
# newest .deps/valkey-*/valkey-server), REDIS_BENCHMARK (default redis-benchmark),
# VALKEY_BENCHMARK (optional), RUNS (default 3), REQUESTS_P1 (default 500000),
# REQUESTS_P16 (default 4000000), SERVER_CPU (0), CLIENT_CPU (1), COMMANDS ("get set"),
# PIPELINES ("1 16").
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
native="${VALKEY_PERF:-$root/target/release/valkey-perf}"
deps="${VALKEY_PERF_DEPS:-$root/.deps}"
server="${VALKEY_SERVER:-$(ls -d "$deps"/valkey-*/valkey-server 2>/dev/null | sort -V | tail -1)}"
redis_bench="${REDIS_BENCHMARK:-$(command -v redis-benchmark || true)}"
runs="${RUNS:-3}"
req_p1="${REQUESTS_P1:-500000}"
req_p16="${REQUESTS_P16:-4000000}"
server_cpu="${SERVER_CPU:-0}"
client_cpu="${CLIENT_CPU:-1}"

for f in "$native" "$server" "$redis_bench"; do
    [[ -x "$f" ]] || { echo "error: \`$f\` is missing or not executable (build with \`cargo build --release\`, run scripts/install-deps.sh)" >&2; exit 2; }
done

work="$(mktemp -d)"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
setsid taskset -c "$server_cpu" "$server" --port "$port" --bind 127.0.0.1 --save "" \
    --appendonly no --dir "$work" --logfile "$work/server.log" &
server_pid=$!
cleanup() {
    kill -TERM "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT INT TERM
for _ in $(seq 200); do
    redis-cli -p "$port" ping >/dev/null 2>&1 && break
    sleep 0.05
done

# run_tool NAME CMD PIPELINE REQUESTS -> prints "rps cpu_seconds"
run_tool() {
    local tool="$1" cmd="$2" p="$3" n="$4" out
    local common=(-p "$port" -c 50 -n "$n" -d 64 -P "$p" -r 100000 -t "$cmd" --csv)
    case "$tool" in
        native) out=$(/usr/bin/time -f 'CPU %U %S' taskset -c "$client_cpu" "$native" loadgen "${common[@]}" --cpu-list "$client_cpu" 2>&1) ;;
        redis-benchmark) out=$(/usr/bin/time -f 'CPU %U %S' taskset -c "$client_cpu" "$redis_bench" "${common[@]}" 2>&1) ;;
        valkey-benchmark) out=$(/usr/bin/time -f 'CPU %U %S' taskset -c "$client_cpu" "$VALKEY_BENCHMARK" "${common[@]}" 2>&1) ;;
    esac
    local rps cpu
    rps=$(printf '%s\n' "$out" | awk -F'","' -v c="${cmd^^}" '$1 == "\"" c {print $2}')
    cpu=$(printf '%s\n' "$out" | awk '$1 == "CPU" {print $2 + $3}')
    if [[ -z "$rps" || -z "$cpu" ]]; then
        echo "error: $tool $cmd -P $p produced no result:" >&2
        printf '%s\n' "$out" >&2
        exit 1
    fi
    echo "$rps $cpu"
}

median() { sort -g | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }

tools=(native redis-benchmark)
[[ -n "${VALKEY_BENCHMARK:-}" ]] && tools+=(valkey-benchmark)

# Seed the keyspace so GET measures hits.
"$native" loadgen -p "$port" -c 50 -n 100000 -r 100000 -d 64 -t set --sequential -q >/dev/null

printf '%-6s %-3s %-17s %12s %10s %12s %10s\n' case P tool "median rps" "rps ratio" "CPU s/Mreq" "CPU ratio"
for cmd in ${COMMANDS:-get set}; do
    for p in ${PIPELINES:-1 16}; do
        n=$req_p1
        [[ $p == 16 ]] && n=$req_p16
        declare -A rps_list=() cpu_list=()
        for r in $(seq "$runs"); do
            for tool in "${tools[@]}"; do
                read -r rps cpu < <(run_tool "$tool" "$cmd" "$p" "$n")
                rps_list[$tool]+="$rps "
                cpu_list[$tool]+="$(awk -v c="$cpu" -v n="$n" 'BEGIN {printf "%.6f", c / n * 1e6}') "
            done
        done
        ref_rps=$(tr ' ' '\n' <<<"${rps_list[redis-benchmark]}" | grep . | median)
        ref_cpu=$(tr ' ' '\n' <<<"${cpu_list[redis-benchmark]}" | grep . | median)
        for tool in "${tools[@]}"; do
            m_rps=$(tr ' ' '\n' <<<"${rps_list[$tool]}" | grep . | median)
            m_cpu=$(tr ' ' '\n' <<<"${cpu_list[$tool]}" | grep . | median)
            printf '%-6s %-3s %-17s %12.0f %10.3f %12.3f %10.3f\n' "${cmd^^}" "$p" "$tool" "$m_rps" \
                "$(awk -v a="$m_rps" -v b="$ref_rps" 'BEGIN {print a / b}')" "$m_cpu" \
                "$(awk -v a="$m_cpu" -v b="$ref_cpu" 'BEGIN {print a / b}')"
        done
        unset rps_list cpu_list
    done
done
