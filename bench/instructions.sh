#!/usr/bin/env bash
# The service's own CPU per read, counted in instructions: callgrind runs the release server on
# PostgreSQL (one tenant of 10,000 products) and counts what it executes over the list and get
# routes' requests, after a warm-up that fills the caches and the connection pools. Unlike a
# timed run, the count repeats to within a fraction of a percent whatever else the machine
# does, so two builds compare on a noisy machine: `bash bench/instructions.sh [binary...]`
# (default: this tree's release build). Counts user space only: the kernel's socket work and
# PostgreSQL are not in it. Slow under valgrind: about 40 s per route and binary.
set -euo pipefail
source "$(dirname "$0")/common.sh"

command -v valgrind >/dev/null || { apt-get update -qq >&2 && apt-get install -y -qq valgrind >&2; }
eval "$(scripts/pg-test-cluster)"
if [ $# -eq 0 ]; then
    cargo build --release -p tenantry >&2
    set -- target/release/tenantry
fi
per_tenant=${BENCH_PRODUCTS:-10000}
duration=${BENCH_SECONDS:-15}
port=${BENCH_PORT:-18191}
base="http://127.0.0.1:$port"
db=tenantry_instructions
owner_url=${TENANTRY_TEST_PG_URL%/*}/$db
dir=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$dir"' EXIT

psql "$TENANTRY_TEST_PG_URL" -v ON_ERROR_STOP=1 -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" \
    -c "CREATE DATABASE $db OWNER tenantry_owner" >&2
TENANTRY_DATABASE_URL=$owner_url "$1" migrate >&2
psql "$owner_url" -v ON_ERROR_STOP=1 -qc "UPDATE plans SET is_default = false" \
    -c "UPDATE plans SET is_default = true WHERE code = 'enterprise'"
export TENANTRY_DATABASE_URL=${TENANTRY_TEST_PG_SERVICE_URL%/*}/$db TENANTRY_MIGRATION_DATABASE_URL=$owner_url \
    TENANTRY_DB_POOL_SIZE=4 TENANTRY_RATE_LIMITS=off TENANTRY_BIND=127.0.0.1:$port \
    TENANTRY_INTERNAL_BIND=off TENANTRY_LOG=warn TENANTRY_MAIL_DIR=$dir/mail \
    TENANTRY_MASTER_KEY_FILE=$dir/master.key

up() { for _ in $(seq 1 300); do curl -sf "$base/healthz" >/dev/null && return; sleep 0.5; done; exit 1; }
login() {
    curl -sf -H 'Content-Type: application/json' "$base/api/v1/auth/login" \
        -d '{"email": "owner@t001.test", "password": "correct horse battery"}' |
        sed -E 's/.*"access_token":"([^"]+)".*/\1/'
}

# The tenant and its products, served once without valgrind.
"$1" serve >&2 &
pid=$!
up
curl -sf -H 'Content-Type: application/json' "$base/api/v1/onboard" -d '{
  "organisation_name": "Bench 001", "slug": "t001", "owner_email": "owner@t001.test",
  "owner_name": "Owner", "password": "correct horse battery"}' >/dev/null
load_products "$owner_url" "$per_tenant"
product_id=$(curl -sf -H "X-Tenant-ID: t001" -H "Authorization: Bearer $(login)" \
    "$base/api/v1/products?limit=1&order=-price" | sed -E 's/.*"items":\[\{"id":"([^"]+)".*/\1/')
kill "$pid"
wait "$pid" 2>/dev/null || true

count() { # binary, path: prints the instructions per request
    local out=$dir/callgrind.out token answer requests total
    valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$out" "$1" serve \
        >"$dir/valgrind.log" 2>&1 &
    pid=$!
    up
    token=$(login)
    local wrk=(wrk -t1 -c4 -H "X-Tenant-ID: t001" -H "Authorization: Bearer $token" "$base$2")
    # Warm-up at the measured concurrency: every worker's pool holds its connections (a new
    # one's SCRAM handshake would be counted) and the caches hold the tenant and the token.
    "${wrk[@]}" -d5s >/dev/null
    callgrind_control -z "$pid" >/dev/null
    callgrind_control -i on "$pid" >/dev/null
    answer=$("${wrk[@]}" -d"${duration}s")
    callgrind_control -i off "$pid" >/dev/null
    callgrind_control -d "$pid" >/dev/null
    kill "$pid"
    wait "$pid" 2>/dev/null || true
    pid=
    if grep -q "Non-2xx" <<<"$answer"; then echo "bench: $2 answered errors" >&2; exit 1; fi
    requests=$(awk '/requests in/ {print $1}' <<<"$answer")
    total=$(callgrind_annotate "$(ls -S "$out".* | head -1)" 2>/dev/null |
        awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}')
    rm -f "$out" "$out".*
    echo $((total / requests))
}

printf '%-40s %24s %24s\n' binary "list ?limit=20 (Ir/req)" "get by id (Ir/req)"
for bin in "$@"; do
    printf '%-40s %24s %24s\n' "$bin" "$(count "$bin" "/api/v1/products?limit=20")" \
        "$(count "$bin" "/api/v1/products/$product_id")"
done
