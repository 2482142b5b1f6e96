#!/usr/bin/env bash
# The shell steps of the continuous workflow (.github/workflows/valkey-perf-continuous.yml),
# kept here so that they can be run and tested outside GitHub Actions.
#
#   continuous.sh claim    claims commits; writes `claimed=true|false` and, when something was
#                          claimed, `shas=<sha> <sha>...` to $GITHUB_OUTPUT
#   continuous.sh detect   detect-regression on the newest commit (regression.json) and, on a
#                          regression, the change points of the whole history (history.json);
#                          writes `code=<exit code>` to $GITHUB_OUTPUT
#   continuous.sh alert    one issue per (branch and config, first bad commit): created once,
#                          commented on by later ticks that see the same step, never reopened
#
# Environment: CONFIG, BRANCH, MAX_COMMITS, RUNNER_ID (claim); THRESHOLD, WINDOW (detect);
# BRANCH, CONFIG, REPOSITORY, RUN_URL (alert; `gh` authenticated through GH_TOKEN);
# GITHUB_OUTPUT (a file; standard output when unset). Needs valkey-perf, jq and gh on PATH.
set -euo pipefail

out="${GITHUB_OUTPUT:-/dev/stdout}"
LABEL=valkey-perf-regression

claim() {
    local shas
    shas=$(valkey-perf commits claim --config-file "$CONFIG" --runner-id "$RUNNER_ID" \
        --repo "${VALKEY_REPO:-valkey}" --branch "$BRANCH" --max-commits "$MAX_COMMITS")
    # One line per SHA; keep only hex SHAs, joined by single spaces, nothing when empty.
    shas=$(grep -Eo '^[0-9a-f]{7,40}$' <<< "$shas" | paste -sd' ' || true)
    if [ -z "$shas" ]; then
        echo "claimed: nothing (every commit of $BRANCH is benchmarked or claimed)"
        echo "claimed=false" >> "$out"
        return 0
    fi
    echo "claimed: $shas"
    { echo "claimed=true"; echo "shas=$shas"; } >> "$out"
}

detect() {
    local code=0
    valkey-perf detect-regression --threshold "$THRESHOLD" --window "$WINDOW" > regression.json || code=$?
    cat regression.json
    # 0: no regression, 6: regression, 2: fewer than two commits stored yet, 7: nothing
    # could be judged (too few runs): said, not taken for a pass, and no issue opened.
    case $code in
        0 | 2) ;;
        6)
            # Where the step began: the change points of every case over the whole history.
            valkey-perf detect-regression --history --allow-inconclusive > history.json ||
                echo '{"change_points": []}' > history.json
            ;;
        7) echo "::warning::detect-regression could judge nothing (exit 7): see regression.json" ;;
        *) echo "code=$code" >> "$out"; exit "$code" ;;
    esac
    echo "code=$code" >> "$out"
}

# The first bad commit of the regression in regression.json: an earlier alarm's first bad
# commit still inside this tick's baseline window (the same step, seen again while the window
# holds commits from before it); else the newest commit of the window and the new commit where
# a regressed case's series steps down (any case's, when none of theirs does), from the change
# points of `detect-regression --history`; else the new commit itself.
first_bad() {
    local known="$1"
    jq -r --slurpfile h history.json --argjson known "$known" '
        (.baseline_commits // [.baseline_commit]) as $base
        | ([.new_commit] + $base) as $window
        | [.regressions[].case] as $cases
        | [$h[0].change_points[]? | select(.pct_change < 0)
            | select(.commit as $c | $window | index($c))] as $down
        | ([$down[] | select(.case as $c | $cases | index($c))] | if length > 0 then . else $down end
            | map(.commit)) as $cps
        | ([$known[] | select(. as $k | $base | index($k))] | first)
          // ([$window[] | select(. as $w | $cps | index($w))] | first)
          // .new_commit' regression.json
}

alert() {
    local config_name issues known bad title marker number state body
    config_name=$(basename "$CONFIG")
    # Earlier alarms of this branch and config, open or closed, by their marker.
    issues=$(gh issue list --label "$LABEL" --state all --limit 500 --json number,state,body)
    known=$(jq -c --arg b "$BRANCH" --arg c "$config_name" '
        [.[] | (.body // "") | capture("<!-- valkey-perf-regression branch=(?<b>[^ ]+) config=(?<c>[^ ]+) first-bad=(?<s>[0-9a-f]+) -->")
         | select(.b == $b and .c == $c) | .s]' <<< "$issues")
    bad=$(first_bad "$known")
    marker="<!-- valkey-perf-regression branch=$BRANCH config=$config_name first-bad=$bad -->"
    title="Performance regression on $BRANCH ($config_name) from ${bad:0:12}"
    body=$(jq -r --arg repo "$REPOSITORY" --arg run "${RUN_URL:-}" --arg bad "$bad" '
        def cell: tostring | gsub("(?<c>[|<>@\\[\\]()`*_\\\\])"; "\\\(.c)");
        def pct: if . == null then "n/a" else "\(. * 100 | round / 100) %" end;
        "valkey-perf found a regression of at least \(.threshold_pct) % in https://github.com/\($repo)/commit/\(.new_commit) against \((.baseline_commits // [.baseline_commit]) | map(.[0:12]) | join(", ")); the step starts at https://github.com/\($repo)/commit/\($bad).",
        "", "| case | metric | change |", "| --- | --- | --- |",
        (.regressions[] | "| \(.case | cell) | \(.metric | cell) | \(.pct_change | pct) |"),
        ((.overall_regressions // [])[] | "| every case (\(.cases)) | \(.metric | cell) | \(.pct_change | pct) |"),
        "", (if $run != "" then "Workflow run: \($run)" else empty end)' regression.json)
    read -r number state < <(jq -r --arg m "$marker" \
        '[.[] | select(.body | contains($m))] | first | "\(.number // "") \(.state // "")"' <<< "$issues")
    if [ -z "$number" ]; then
        gh label create "$LABEL" --color d73a4a --force \
            --description "a performance regression found by valkey-perf" > /dev/null || true
        gh issue create --title "$title" --label "$LABEL" --body "$marker"$'\n'"$body"
        echo "opened an issue: $title"
    elif [ "$state" = OPEN ]; then
        gh issue comment "$number" --body "Seen again: $(jq -r '.new_commit' regression.json) still regresses (the same step, from ${bad:0:12})."$'\n\n'"$body"
        echo "updated issue #$number: $title"
    else
        echo "issue #$number ($title) is closed: the same step is not reported again"
    fi
}

case "${1:-}" in
    claim | detect | alert) "$1" ;;
    *) echo "usage: $0 claim|detect|alert (see the header of this script)" >&2; exit 2 ;;
esac
