#!/usr/bin/env bash
# Runs every benchmark with short measurement times and prints one table of ratios: ours
# against each baseline, measured in the same run. Takes about four minutes; set
# MEASURE=5 (seconds per benchmark) for steadier figures in about twelve.
#
#     benches/report.sh
set -euo pipefail
cd "$(dirname "$0")/.."

benches=(record scope segment future_poll attribute json_file pairs spans otel)
args=(--warm-up-time "${WARM_UP:-0.5}" --measurement-time "${MEASURE:-1.5}")
out=$(mktemp)
trap 'rm -f "$out"' EXIT

cargo bench --quiet --all-features --no-run 2>/dev/null
for bench in "${benches[@]}"; do
    cargo bench --quiet --all-features --bench "$bench" -- "${args[@]}" 2>/dev/null \
        | grep '^REPORT' | sed 's/^REPORT //' >>"$out"
done

echo "| what | ours | baseline | baseline time | ratio |"
echo "|---|---|---|---|---|"
cat "$out"
