#!/usr/bin/env bash
# Native load generator vs redis-benchmark (and valkey-benchmark when $VALKEY_BENCHMARK is
# set), measured in the same run: servers pinned to CPU 0, clients pinned to CPU 1, the tools
# alternating, RUNS times each, 50 clients, -d 64.
#
# MODE=standalone (default): one server, GET and SET at pipelines 1 and 16.
# MODE=cluster: three primaries (cluster-enabled), GET and SET at pipelines 1 and 10, both
# tools with --cluster; with TLS=1 the cluster is Debian's redis-server 7.0 (built with TLS)
# over TLS client and bus ports, certificates made here with openssl.
#
# Prints per case the median rps of each tool, the ratio of medians (native / reference),
# the median client CPU seconds (user + sys, from the OS via /usr/bin/time) per million
# requests and its ratio, the peak RSS of the client (MB) and its ratio, and the servers' CPU
# seconds (all nodes and threads, from /proc) per million requests: when the servers share one
# CPU, rps follows that figure, so a difference there is the workload, not the client.
# Targets: standalone CPU/Mreq <= 0.5x at P1, <= 0.6x at P16; cluster CPU/Mreq <= 0.8x;
# rps >= 1.0x; peak RSS <= 2x.
#
# Environment: VALKEY_PERF (default target/release/valkey-perf), VALKEY_SERVER (default the
# newest .deps/valkey-*/valkey-server; /usr/bin/redis-server with TLS=1), REDIS_BENCHMARK
# (default redis-benchmark), VALKEY_BENCHMARK (optional), RUNS (default 3), REQUESTS_P1
# (default 500000, cluster 300000), REQUESTS_PN (requests at the higher pipeline, default
# 4000000, cluster 1500000), SERVER_CPU (0), CLIENT_CPU (1), COMMANDS ("get set"),
# PIPELINES ("1 16", cluster "1 10"), CLIENTS (50), THREADS (native client threads, 1).
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
mode="${MODE:-standalone}"
tls="${TLS:-0}"
native="${VALKEY_PERF:-$root/target/release/valkey-perf}"
deps="${VALKEY_PERF_DEPS:-$root/.deps}"
if [[ $tls == 1 ]]; then
    server="${VALKEY_SERVER:-/usr/bin/redis-server}"
else
    server="${VALKEY_SERVER:-$(ls -d "$deps"/valkey-*/valkey-server 2>/dev/null | sort -V | tail -1)}"
fi
redis_bench="${REDIS_BENCHMARK:-$(command -v redis-benchmark || true)}"
cli="$(command -v redis-cli || true)"
runs="${RUNS:-3}"
clients="${CLIENTS:-50}"
threads="${THREADS:-1}"
if [[ $mode == cluster ]]; then
    req_p1="${REQUESTS_P1:-300000}"
    req_pn="${REQUESTS_PN:-1500000}"
    pipelines="${PIPELINES:-1 10}"
else
    req_p1="${REQUESTS_P1:-500000}"
    req_pn="${REQUESTS_PN:-4000000}"
    pipelines="${PIPELINES:-1 16}"
fi
server_cpu="${SERVER_CPU:-0}"
client_cpu="${CLIENT_CPU:-1}"
case "$mode" in standalone | cluster) ;; *) echo "error: MODE must be standalone or cluster, not \`$mode\`" >&2; exit 2 ;; esac

for f in "$native" "$server" "$redis_bench" "$cli"; do
    [[ -x "$f" ]] || { echo "error: \`$f\` is missing or not executable (build with \`cargo build --release\`, run scripts/install-deps.sh, install redis-tools)" >&2; exit 2; }
done

work="$(mktemp -d)"
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT INT TERM

# Ports whose cluster bus port (+10000) is free too.
free_ports() {
    python3 - "$1" <<'PY'
import random, socket, sys
want, got = int(sys.argv[1]), []
while len(got) < want:
    p = random.randint(20000, 30000)
    try:
        for q in (p, p + 10000):
            s = socket.socket(); s.bind(("127.0.0.1", q)); s.close()
        if p not in got: got.append(p)
    except OSError:
        pass
print(" ".join(map(str, got)))
PY
}

tls_client=()
tls_server=()
if [[ $tls == 1 ]]; then
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=bench-ca \
        -keyout "$work/ca.key" -out "$work/ca.crt" 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -subj /CN=localhost -keyout "$work/server.key" \
        -out "$work/server.csr" 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >"$work/san.ext"
    openssl x509 -req -in "$work/server.csr" -CA "$work/ca.crt" -CAkey "$work/ca.key" \
        -CAcreateserial -days 2 -extfile "$work/san.ext" -out "$work/server.crt" 2>/dev/null
    tls_client=(--tls --cacert "$work/ca.crt")
    tls_server=(--tls-cert-file "$work/server.crt" --tls-key-file "$work/server.key"
        --tls-ca-cert-file "$work/ca.crt" --tls-auth-clients no)
fi

nodes=1
[[ $mode == cluster ]] && nodes=3
read -r -a ports <<<"$(free_ports "$nodes")"
port="${ports[0]}"
for i in "${!ports[@]}"; do
    p="${ports[$i]}"
    args=(--bind 127.0.0.1 --save "" --appendonly no --dir "$work" --logfile "$work/server-$p.log")
    if [[ $tls == 1 ]]; then args+=(--port 0 --tls-port "$p" "${tls_server[@]}"); else args+=(--port "$p"); fi
    if [[ $mode == cluster ]]; then
        args+=(--cluster-enabled yes --cluster-config-file "$work/nodes-$p.conf")
        [[ $tls == 1 ]] && args+=(--tls-cluster yes --tls-replication yes)
    fi
    setsid taskset -c "$server_cpu" "$server" "${args[@]}" &
    pids+=($!)
done
for p in "${ports[@]}"; do
    for _ in $(seq 400); do
        "$cli" "${tls_client[@]}" -p "$p" ping >/dev/null 2>&1 && break
        sleep 0.05
    done
done
cluster_flag=()
if [[ $mode == cluster ]]; then
    addrs=()
    for p in "${ports[@]}"; do addrs+=("127.0.0.1:$p"); done
    "$cli" "${tls_client[@]}" --cluster create "${addrs[@]}" --cluster-yes >"$work/create.log" 2>&1 ||
        { cat "$work/create.log" >&2; exit 1; }
    for p in "${ports[@]}"; do
        for _ in $(seq 400); do
            "$cli" "${tls_client[@]}" -p "$p" cluster info 2>/dev/null | grep -q 'cluster_state:ok' && break
            sleep 0.05
        done
    done
    cluster_flag=(--cluster)
fi

# CPU time (user + sys, clock ticks, all threads) the servers used so far.
hz=$(getconf CLK_TCK)
server_ticks() {
    local t=0 pid
    for pid in "${pids[@]}"; do t=$((t + $(awk '{print $14 + $15}' "/proc/$pid/stat"))); done
    echo "$t"
}

# Times the servers' main threads went to sleep waiting for requests so far (voluntary
# context switches): fewer per request means each wake-up served more requests.
server_sleeps() {
    local t=0 pid
    for pid in "${pids[@]}"; do
        t=$((t + $(awk '$1 == "voluntary_ctxt_switches:" {print $2}' "/proc/$pid/task/$pid/status")))
    done
    echo "$t"
}

# run_tool NAME CMD PIPELINE REQUESTS -> prints "rps cpu_seconds peak_rss_kb server_cpu_seconds
# server_sleeps"
run_tool() {
    local tool="$1" cmd="$2" p="$3" n="$4" out
    local common=(-h 127.0.0.1 -p "$port" -c "$clients" -n "$n" -d 64 -P "$p" -r 100000 -t "$cmd" --csv
        "${cluster_flag[@]}" "${tls_client[@]}")
    local time=(/usr/bin/time -f 'CPU %U %S %M' taskset -c "$client_cpu")
    local ticks_before sleeps_before
    ticks_before=$(server_ticks)
    sleeps_before=$(server_sleeps)
    case "$tool" in
        native) out=$("${time[@]}" "$native" loadgen "${common[@]}" --threads "$threads" --cpu-list "$client_cpu" 2>&1) ;;
        redis-benchmark) out=$("${time[@]}" "$redis_bench" "${common[@]}" 2>&1) ;;
        valkey-benchmark) out=$("${time[@]}" "$VALKEY_BENCHMARK" "${common[@]}" 2>&1) ;;
    esac
    local rps cpu rss server_cpu sleeps
    server_cpu=$(awk -v a="$(server_ticks)" -v b="$ticks_before" -v hz="$hz" 'BEGIN {print (a - b) / hz}')
    sleeps=$(($(server_sleeps) - sleeps_before))
    rps=$(printf '%s\n' "$out" | awk -F'","' -v c="${cmd^^}" '$1 == "\"" c {print $2}')
    cpu=$(printf '%s\n' "$out" | awk '$1 == "CPU" {print $2 + $3}')
    rss=$(printf '%s\n' "$out" | awk '$1 == "CPU" {print $4}')
    if [[ -z "$rps" || -z "$cpu" ]]; then
        echo "error: $tool $cmd -P $p produced no result:" >&2
        printf '%s\n' "$out" >&2
        exit 1
    fi
    echo "$rps $cpu $rss $server_cpu $sleeps"
}

median() { sort -g | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }

tools=(native redis-benchmark)
[[ -n "${VALKEY_BENCHMARK:-}" ]] && tools+=(valkey-benchmark)

# Seed the keyspace so GET measures hits for both tools: the native key names, and in a
# cluster also redis-benchmark's (one hash tag per node, `key:{tag}:<n>`): a million random
# SETs per node over 100 000 key numbers leave none of them unwritten.
"$native" loadgen -h 127.0.0.1 -p "$port" -c 50 -n 100000 -r 100000 -d 64 -t set --sequential -q \
    "${cluster_flag[@]}" "${tls_client[@]}" >/dev/null
if [[ $mode == cluster ]]; then
    "$redis_bench" -h 127.0.0.1 -p "$port" -c 50 -n $((nodes * 1000000)) -r 100000 -d 64 -P 16 -t set -q \
        "${cluster_flag[@]}" "${tls_client[@]}" >/dev/null 2>&1
fi

label="$mode"
[[ $tls == 1 ]] && label="$mode+tls"
echo "# $label, $clients clients, -d 64, $runs alternations, server $(basename "$server")"
printf '%-6s %-3s %-17s %12s %10s %12s %10s %8s %9s %12s %11s\n' case P tool "median rps" "rps ratio" "CPU s/Mreq" "CPU ratio" "RSS MB" "RSS ratio" "srv CPU s/Mreq" "srv req/wake"
for cmd in ${COMMANDS:-get set}; do
    for p in $pipelines; do
        n=$req_p1
        [[ $p != 1 ]] && n=$req_pn
        declare -A rps_list=() cpu_list=() rss_list=() srv_list=() wake_list=()
        for r in $(seq "$runs"); do
            for tool in "${tools[@]}"; do
                read -r rps cpu rss srv sleeps < <(run_tool "$tool" "$cmd" "$p" "$n")
                rps_list[$tool]+="$rps "
                cpu_list[$tool]+="$(awk -v c="$cpu" -v n="$n" 'BEGIN {printf "%.6f", c / n * 1e6}') "
                rss_list[$tool]+="$rss "
                srv_list[$tool]+="$(awk -v c="$srv" -v n="$n" 'BEGIN {printf "%.6f", c / n * 1e6}') "
                wake_list[$tool]+="$(awk -v s="$sleeps" -v n="$n" 'BEGIN {printf "%.3f", n / (s > 0 ? s : 1)}') "
            done
        done
        ref_rps=$(tr ' ' '\n' <<<"${rps_list[redis-benchmark]}" | grep . | median)
        ref_cpu=$(tr ' ' '\n' <<<"${cpu_list[redis-benchmark]}" | grep . | median)
        ref_rss=$(tr ' ' '\n' <<<"${rss_list[redis-benchmark]}" | grep . | median)
        for tool in "${tools[@]}"; do
            m_rps=$(tr ' ' '\n' <<<"${rps_list[$tool]}" | grep . | median)
            m_cpu=$(tr ' ' '\n' <<<"${cpu_list[$tool]}" | grep . | median)
            m_rss=$(tr ' ' '\n' <<<"${rss_list[$tool]}" | grep . | median)
            m_srv=$(tr ' ' '\n' <<<"${srv_list[$tool]}" | grep . | median)
            m_wake=$(tr ' ' '\n' <<<"${wake_list[$tool]}" | grep . | median)
            printf '%-6s %-3s %-17s %12.0f %10.3f %12.3f %10.3f %8.1f %9.2f %12.3f %11.1f\n' "${cmd^^}" "$p" "$tool" "$m_rps" \
                "$(awk -v a="$m_rps" -v b="$ref_rps" 'BEGIN {print a / b}')" "$m_cpu" \
                "$(awk -v a="$m_cpu" -v b="$ref_cpu" 'BEGIN {print a / b}')" \
                "$(awk -v a="$m_rss" 'BEGIN {print a / 1024}')" \
                "$(awk -v a="$m_rss" -v b="$ref_rss" 'BEGIN {print a / b}')" "$m_srv" "$m_wake"
        done
        unset rps_list cpu_list rss_list srv_list wake_list
    done
done
