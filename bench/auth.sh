#!/usr/bin/env bash
# Login latency, and how GET /api/v1/tenant holds while a login storm runs.
# Starts the release binary on SQLite (or on $TENANTRY_DATABASE_URL), signs up one tenant,
# then runs wrk: logins alone, the tenant route alone, and both at once. Loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v wrk >/dev/null 2>&1; then
    echo "bench: installing wrk" >&2
    apt-get update -qq >&2 && apt-get install -y -qq wrk >&2
fi
cargo build --release -p tenantry >&2

port=${BENCH_PORT:-18080}
base="http://127.0.0.1:$port"
dir=$(mktemp -d)
export TENANTRY_DATABASE_URL=${TENANTRY_DATABASE_URL:-sqlite://$dir/bench.db}
TENANTRY_BIND=127.0.0.1:$port TENANTRY_LOG=warn TENANTRY_MAIL_DIR=$dir/mail target/release/tenantry serve &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 1 50); do curl -sf "$base/healthz" >/dev/null && break; sleep 0.2; done

curl -sf -H 'Content-Type: application/json' "$base/api/v1/onboard" -d '{
  "organisation_name": "Bench Inc", "slug": "acme", "owner_email": "bench@acme.test",
  "owner_name": "Bench", "password": "correct horse battery"}' >/dev/null

duration=${BENCH_SECONDS:-10}
summary() { # name, wrk output
    local rps p50 p99
    rps=$(awk '/Requests\/sec/ {print $2}' <<<"$2")
    p50=$(awk '$1 == "50%" {print $2}' <<<"$2")
    p99=$(awk '$1 == "99%" {print $2}' <<<"$2")
    printf '%-40s %10s req/s   p50 %8s   p99 %8s\n' "$1" "$rps" "$p50" "$p99"
}

login=$(wrk -t1 -c4 -d"${duration}s" --latency -s bench/login.lua "$base/api/v1/auth/login")
summary "login (4 connections)" "$login"

tenant=$(wrk -t1 -c16 -d"${duration}s" --latency -H 'X-Tenant-ID: acme' "$base/api/v1/tenant")
summary "GET /api/v1/tenant alone (16 conn.)" "$tenant"

wrk -t1 -c8 -d"$((duration + 2))s" --latency -s bench/login.lua "$base/api/v1/auth/login" >"$dir/storm.txt" &
storm=$!
sleep 1
during=$(wrk -t1 -c16 -d"${duration}s" --latency -H 'X-Tenant-ID: acme' "$base/api/v1/tenant")
wait $storm
summary "GET /api/v1/tenant during a login storm" "$during"
summary "  the storm's logins (8 conn.)" "$(cat "$dir/storm.txt")"
echo "peak RSS of the server: $(awk '/VmHWM/ {print $2, $3}' /proc/$pid/status)"
