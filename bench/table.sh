#!/usr/bin/env bash
# Prints the table the benchmarks recorded (bench/common.sh `record`), then clears it.
source "$(dirname "$0")/common.sh"
[ -s "$results" ] || { echo "bench: no results recorded in $results" >&2; exit 0; }
echo
echo "Issue 17's cases, as ratios to floors measured in the same run ($(nproc) cores, $(date -u +%F))"
{
    printf 'case\treq/s\tp50 ms\tp99 ms\tfloor\tratio\ttarget\tmet\tCPU µs/req (service + db)\n'
    awk -F '\t' -v OFS='\t' '{ for (i = 1; i <= NF; i++) if ($i == "") $i = "-"; print }' "$results"
} | column -t -s $'\t'
rm -f "$results"
