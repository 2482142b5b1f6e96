#!/usr/bin/env bash
# How `valkey-perf dashboard` scales: a synthetic history of 1 000 commits × 50 cases × 3 runs
# (bench/gen-history.py, seeded, with a planted -15 % step in one case ten commits back) pushed
# into a SQLite database, then per binary: the page's size, the build's wall time and peak RSS
# (/usr/bin/time -v), and headless Chromium's time to load the page and run its script
# (--dump-dom), next to Chromium's time for an empty page measured in the same run (the
# reference: the browser's own start-up).
# Targets: page < 10 MB, build < 2 s and < 200 MB, render < 3 s.
#
# Environment: VALKEY_PERF (default target/release/valkey-perf), BEFORE (another binary to
# measure first, e.g. one built from main), COMMITS, CASES, RUNS (default 1000, 50, 3),
# REPEAT (measurements per binary, default 2: the machine may be shared and noisy),
# SCREENSHOT (a PNG path: a screenshot of the new page, 1400×1800).
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
bin="${VALKEY_PERF:-$root/target/release/valkey-perf}"
[ -x "$bin" ] || { echo "build it first: cargo build --release -p valkey-perf ($bin)" >&2; exit 2; }
chromium="$(command -v chromium || command -v chromium-browser || true)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

echo "history: ${COMMITS:-1000} commits x ${CASES:-50} cases x ${RUNS:-3} runs" >&2
python3 "$root/bench/gen-history.py" "$work/results" --commits "${COMMITS:-1000}" \
    --cases "${CASES:-50}" --runs "${RUNS:-3}" --step -15 --step-back 10
db="sqlite:$work/perf.db"
"$bin" push --db "$db" --results-dir "$work/results" > /dev/null 2>&1
rm -rf "$work/results"

render() { # page → seconds Chromium takes to load it and run its script
    local t0 t1
    t0=$(date +%s.%N)
    timeout 300 "$chromium" --headless --no-sandbox --disable-gpu --no-first-run \
        --disable-extensions --user-data-dir="$work/profile" --virtual-time-budget=3000 \
        --dump-dom "file://$1" > "$work/dom.html" 2>/dev/null || echo "chromium failed or timed out" >&2
    t1=$(date +%s.%N)
    python3 -c "print(f'{$t1 - $t0:.2f}')"
}

if [ -n "$chromium" ]; then
    echo '<!DOCTYPE html><html><body>empty</body></html>' > "$work/empty.html"
    render "$work/empty.html" > /dev/null # warm the disk cache
fi

measure() { # name, binary; one line per repetition
    local name="$1" b="$2" page="$work/page-$1.html" k
    for k in $(seq "${REPEAT:-2}"); do
        /usr/bin/time -v "$b" dashboard --db "$db" --output "$page" 2>"$work/time.txt" >/dev/null ||
            { echo "$name: dashboard failed:"; tail -5 "$work/time.txt"; return; }
        local secs rss mb shown=""
        secs=$(awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,t,":"); s=0; for(i=1;i<=n;i++) s=s*60+t[i]; print s}' "$work/time.txt")
        rss=$(awk -F': ' '/Maximum resident set size/ {printf "%.0f", $2/1024}' "$work/time.txt")
        mb=$(python3 -c "import os; print(f'{os.path.getsize(\"$page\") / 1e6:.1f}')")
        if [ -n "$chromium" ]; then
            # The empty page right after: the browser's own start-up at this moment.
            shown="  Chromium $(render "$page") s (empty page $(render "$work/empty.html") s)"
        fi
        printf '%-7s page %6s MB  build %6.2f s  peak RSS %5s MB%s\n' "$name" "$mb" "$secs" "$rss" "$shown"
    done
}

[ -n "${BEFORE:-}" ] && measure before "$BEFORE"
measure after "$bin"
if [ -n "${SCREENSHOT:-}" ] && [ -n "$chromium" ]; then
    timeout 120 "$chromium" --headless --no-sandbox --disable-gpu --no-first-run --hide-scrollbars \
        --user-data-dir="$work/profile" --virtual-time-budget=3000 --window-size=1400,1800 \
        --screenshot="$SCREENSHOT" "file://$work/page-after.html" > /dev/null 2>&1
    echo "screenshot: $SCREENSHOT" >&2
fi
