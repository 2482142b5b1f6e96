#!/usr/bin/env bash
# `valkey-perf push` of one large metrics.json into a fresh SQLite database: wall time and
# peak RSS (from /usr/bin/time -v), then the same push again (idempotency: nothing inserted).
# The reference measured in the same run is a push of a small file (SMALL records) by the same
# binary: the ratio of time per record (large / small) shows whether the cost grows faster
# than the file. With VALKEY_PERF_REF set (another build, e.g. an older commit's), that binary
# is measured the same way, alongside, and the ratios large(binary) / large(reference) print.
#
# The file is generated here (bench/gen-records.py): RECORDS copies of a record as `run`
# writes it, each a different run. Targets: under 3 s and under 200 MB
# for 50 000 records.
#
# Environment: VALKEY_PERF (default target/release/valkey-perf), VALKEY_PERF_REF (optional),
# RECORDS (default 50000), SMALL (default 1000).
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
binary="${VALKEY_PERF:-$root/target/release/valkey-perf}"
reference="${VALKEY_PERF_REF:-}"
records="${RECORDS:-50000}"
small="${SMALL:-1000}"
for f in "$binary" ${reference:+"$reference"} /usr/bin/time; do
    [[ -x "$f" ]] || { echo "error: \`$f\` is missing or not executable (build with \`cargo build --release\`; /usr/bin/time is Debian's \`time\` package)" >&2; exit 2; }
done
command -v python3 >/dev/null || { echo "error: python3 is needed to generate the file" >&2; exit 2; }

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/large" "$work/small"
python3 "$root/bench/gen-records.py" "$records" "$work/large/metrics.json"
python3 "$root/bench/gen-records.py" "$small" "$work/small/metrics.json"
echo "file: $records records, $(( $(stat -c %s "$work/large/metrics.json") / 1048576 )) MiB; reference file: $small records"

# push BINARY DB DIR → "seconds peak_kib inserted present"
push() {
    local out="$work/out.txt" stats="$work/time.txt"
    /usr/bin/time -v "$1" push --db "sqlite:$2" --results-dir "$3" >"$out" 2>"$stats" || {
        echo "error: push failed:" >&2; cat "$out" "$stats" >&2; exit 1; }
    local wall rss summary
    wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$stats" | awk -F: '{ if (NF == 3) print $1*3600 + $2*60 + $3; else print $1*60 + $2 }')
    rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$stats")
    summary=$(grep -E "rows inserted" "$stats" | sed -E 's/.*: ([0-9]+) rows inserted, ([0-9]+) already present.*/\1 \2/')
    echo "$wall $rss $summary"
}

measure() {
    local name="$1" bin="$2"
    read -r t_large rss_large ins_large _ < <(push "$bin" "$work/$name-large.db" "$work/large")
    read -r t_again rss_again ins_again present_again < <(push "$bin" "$work/$name-large.db" "$work/large")
    read -r t_small _ ins_small _ < <(push "$bin" "$work/$name-small.db" "$work/small")
    [[ $ins_large == "$records" && $ins_again == 0 && $present_again == "$records" && $ins_small == "$small" ]] || {
        echo "error: $name inserted $ins_large, then $ins_again ($present_again present), small $ins_small" >&2; exit 1; }
    printf '%-10s push %6d records: %6.2f s, peak RSS %5d MB | again: %6.2f s, %5d MB, 0 inserted | %d records: %5.2f s | per-record time ratio large/small: %.2f\n' \
        "$name" "$records" "$t_large" $((rss_large / 1024)) "$t_again" $((rss_again / 1024)) "$small" "$t_small" \
        "$(awk -v a="$t_large" -v b="$t_small" -v n="$records" -v m="$small" 'BEGIN { printf "%.2f", (a / n) / (b / m) }')"
    eval "${name}_time=$t_large ${name}_rss=$rss_large"
}

measure binary "$binary"
if [[ -n $reference ]]; then
    measure reference "$reference"
    awk -v a="$binary_time" -v b="$reference_time" -v c="$binary_rss" -v d="$reference_rss" \
        'BEGIN { printf "binary / reference: time %.2fx, peak RSS %.2fx\n", a / b, c / d }'
fi
awk -v t="$binary_time" -v r="$binary_rss" \
    'BEGIN { printf "targets: under 3 s (%s), under 200 MB (%s)\n", (t < 3 ? "met" : "NOT met"), (r / 1024 < 200 ? "met" : "NOT met") }'
