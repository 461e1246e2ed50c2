#!/usr/bin/env bash
# Logins, how GET /api/v1/tenant holds while a login storm runs, and the cost of checking an
# access token on a member read (signature cache, revoked-session set, membership cache).
# Starts the release binary on SQLite (or on $TENANTRY_DATABASE_URL), signs up one tenant,
# then runs wrk. Loopback only.
#
# BENCH_BASELINE=/path/to/an/older/tenantry binary adds an A/B run of the member read: both
# binaries serve the same kind of data side by side and are measured alternately
# (BENCH_ROUNDS times each, default 5, alternating which goes first), so the machine's drift
# cancels out: the figure to read is the median of the rounds' ratios. In the A/B run each server has one worker pinned
# to CPU 0 and wrk has CPU 1 (BENCH_PIN=0 turns that off): on two cores, letting them fight
# for both made rounds of the same binary differ by ±15 %.
set -euo pipefail
source "$(dirname "$0")/common.sh"

cargo build --release -p tenantry >&2

dir=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done; rm -rf "$dir"' EXIT

# start NAME BINARY PORT [DATABASE_URL]: serves a fresh SQLite database by default.
start() {
    local name=$1 bin=$2 port=$3
    mkdir -p "$dir/$name"
    TENANTRY_DATABASE_URL=${4:-sqlite://$dir/$name/bench.db} \
        TENANTRY_BIND=127.0.0.1:$port TENANTRY_INTERNAL_BIND=off TENANTRY_LOG=warn TENANTRY_MAIL_DIR=$dir/$name/mail TENANTRY_RATE_LIMITS=off \
        $pin_server "$bin" serve &
    pids+=($!)
    for _ in $(seq 1 50); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.2; done
}

# prepare PORT: signs up the bench tenant, ends BENCH_REVOKED other sessions (so the revoked
# set is not empty), and prints an access token of a live session.
prepare() {
    local base="http://127.0.0.1:$1"
    curl -sf -H 'Content-Type: application/json' "$base/api/v1/onboard" -d '{
      "organisation_name": "Bench Inc", "slug": "acme", "owner_email": "bench@acme.test",
      "owner_name": "Bench", "password": "correct horse battery"}' >/dev/null
    local login='{"email": "bench@acme.test", "password": "correct horse battery"}'
    for _ in $(seq 1 "${BENCH_REVOKED:-100}"); do
        local refresh
        refresh=$(curl -sf -H 'Content-Type: application/json' "$base/api/v1/auth/login" -d "$login" \
            | sed -E 's/.*"refresh_token":"([^"]+)".*/\1/')
        curl -sf -H 'Content-Type: application/json' "$base/api/v1/auth/logout" \
            -d "{\"refresh_token\": \"$refresh\"}" >/dev/null
    done
    curl -sf -H 'Content-Type: application/json' "$base/api/v1/auth/login" -d "$login" \
        | sed -E 's/.*"access_token":"([^"]+)".*/\1/'
}

pin_server="" pin_wrk=""
duration=${BENCH_SECONDS:-10}
summary() { # name, wrk output
    local rps p50 p99
    rps=$(awk '/Requests\/sec/ {print $2}' <<<"$2")
    p50=$(awk '$1 == "50%" {print $2}' <<<"$2")
    p99=$(awk '$1 == "99%" {print $2}' <<<"$2")
    printf '%-44s %10s req/s   p50 %8s   p99 %8s\n' "$1" "$rps" "$p50" "$p99"
}
rps_of() { awk '/Requests\/sec/ {print $2}' <<<"$1"; }
median() { tr ' ' '\n' <<<"$*" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

port=${BENCH_PORT:-18080}
base="http://127.0.0.1:$port"
start current target/release/tenantry "$port" "${TENANTRY_DATABASE_URL:-}"
token=$(prepare "$port")
members() { # base URL, token, seconds
    $pin_wrk wrk -t1 -c16 -d"$3s" --latency -H "Authorization: Bearer $2" -H 'X-Tenant-ID: acme' "$1/api/v1/members"
}

login=$(wrk -t1 -c4 -d"${duration}s" --latency -s bench/login.lua "$base/api/v1/auth/login")
summary "login (4 connections)" "$login"

tenant=$(wrk -t1 -c16 -d"${duration}s" --latency -H 'X-Tenant-ID: acme' "$base/api/v1/tenant")
summary "GET /api/v1/tenant alone (16 conn.)" "$tenant"

summary "GET /api/v1/members, bearer token (16 conn.)" "$(members "$base" "$token" "$duration")"

wrk -t1 -c8 -d"$((duration + 2))s" --latency -s bench/login.lua "$base/api/v1/auth/login" >"$dir/storm.txt" &
storm=$!
sleep 1
during=$(wrk -t1 -c16 -d"${duration}s" --latency -H 'X-Tenant-ID: acme' "$base/api/v1/tenant")
wait $storm
summary "GET /api/v1/tenant during a login storm" "$during"
summary "  the storm's logins (8 conn.)" "$(cat "$dir/storm.txt")"
echo "peak RSS of the server: $(awk '/VmHWM/ {print $2, $3}' "/proc/${pids[0]}/status")"

if [ -n "${BENCH_BASELINE:-}" ]; then
    echo
    echo "A/B: GET /api/v1/members with a bearer token, ${BENCH_REVOKED:-100} revoked sessions each"
    # Two fresh servers on SQLite, prepared alike (the one above has taken a login storm's
    # writes).
    base_port=$((port + 1)) now_port=$((port + 2))
    if [ "${BENCH_PIN:-1}" != 0 ]; then
        pin_server="env TENANTRY_WORKERS=1 taskset -c 0" pin_wrk="taskset -c 1"
    fi
    start baseline "$BENCH_BASELINE" "$base_port"
    base_token=$(prepare "$base_port")
    start now target/release/tenantry "$now_port"
    now_token=$(prepare "$now_port")
    now=() before=()
    run_baseline() {
        out=$(members "http://127.0.0.1:$base_port" "$base_token" "$duration")
        before+=("$(rps_of "$out")")
        summary "  round $round, baseline" "$out"
    }
    run_now() {
        out=$(members "http://127.0.0.1:$now_port" "$now_token" "$duration")
        now+=("$(rps_of "$out")")
        summary "  round $round, this build" "$out"
    }
    # Alternating which goes first (ABBA…), so a drift during a round favours neither.
    for round in $(seq 1 "${BENCH_ROUNDS:-5}"); do
        if [ $((round % 2)) = 1 ]; then run_baseline; run_now; else run_now; run_baseline; fi
    done
    b=$(median "${before[@]}") n=$(median "${now[@]}")
    awk -v b="$b" -v n="$n" 'BEGIN {printf "  medians: baseline %.0f, this build %.0f req/s: %+.1f %%\n", b, n, (n / b - 1) * 100}'
    # Each round's two runs are back to back: their ratio cancels the drift between rounds.
    ratios=()
    for i in "${!now[@]}"; do ratios+=("$(awk -v b="${before[$i]}" -v n="${now[$i]}" 'BEGIN {print n / b}')"); done
    awk -v r="$(median "${ratios[@]}")" 'BEGIN {printf "  median of the rounds'"'"' ratios (this build / baseline): %+.1f %%\n", (r - 1) * 100}'
fi
