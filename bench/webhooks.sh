#!/usr/bin/env bash
# Webhook delivery's numbers on SQLite and PostgreSQL, each beside a floor from the same run
# (apps/tenantry/examples/webhook_bench.rs is the receiver and the driver): deliveries/s of a
# 10,000-event fan-out beside the receiver's own capacity, the server's peak RSS meanwhile,
# event→delivery latency at low load beside one round trip to the receiver, and the
# fan-out's price on product writes. Loopback only; release build.
set -euo pipefail
source "$(dirname "$0")/common.sh"

eval "$(scripts/pg-test-cluster)"
events=${BENCH_EVENTS:-10000}
dir=$(mktemp -d)
pid=
cleanup() {
    [ -n "$pid" ] && { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; }
    rm -rf "$dir"
}
trap cleanup EXIT

cargo build --release -p tenantry >&2
cargo build --release -p tenantry --example webhook_bench >&2

for backend in ${BENCH_BACKENDS:-postgres sqlite}; do
    case $backend in
        postgres)
            db=tenantry_bench_webhooks
            psql "$TENANTRY_TEST_PG_URL" -v ON_ERROR_STOP=1 -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" \
                -c "CREATE DATABASE $db OWNER tenantry_owner" >&2
            TENANTRY_DATABASE_URL=${TENANTRY_TEST_PG_URL%/*}/$db target/release/tenantry migrate >&2
            url=${TENANTRY_TEST_PG_SERVICE_URL%/*}/$db
            ;;
        sqlite) url=sqlite://$dir/webhooks.db ;;
    esac
    TENANTRY_DATABASE_URL=$url TENANTRY_DB_POOL_SIZE=32 TENANTRY_BIND=127.0.0.1:18095 TENANTRY_INTERNAL_BIND=127.0.0.1:18096 \
        TENANTRY_LOG=warn TENANTRY_MAIL_DIR=$dir/mail TENANTRY_MASTER_KEY_FILE=$dir/master.key TENANTRY_RATE_LIMITS=off \
        TENANTRY_WEBHOOK_ALLOW_HTTP=true TENANTRY_WEBHOOK_ALLOW_CIDRS=127.0.0.1/32 \
        TENANTRY_OPERATOR_TOKEN=bench-operator \
        target/release/tenantry serve >"$dir/serve-$backend.log" 2>&1 &
    pid=$!
    for _ in $(seq 1 100); do curl -sf http://127.0.0.1:18095/readyz >/dev/null && break; sleep 0.2; done
    # Tenants start on the unlimited plan (webhooks are a plan feature).
    curl -sf -X PATCH -H 'Authorization: Bearer bench-operator' -H 'Content-Type: application/json' \
        http://127.0.0.1:18095/api/v1/platform/plans/enterprise -d '{"default": true}' >/dev/null
    echo
    echo "== webhooks on $backend"
    target/release/examples/webhook_bench http://127.0.0.1:18095 "$pid" "$events"
    # Where the dispatcher's time went (all runs together): mean per claim and per batch phase.
    curl -sf http://127.0.0.1:18096/metrics | awk '
        /^tenantry_webhook_phase_seconds_(sum|count)/ {
            match($0, /phase="[a-z]+"/); p = substr($0, RSTART + 7, RLENGTH - 8)
            if ($0 ~ /_sum/) sum[p] = $NF; else n[p] = $NF }
        END { for (p in n) if (n[p] > 0) printf "  dispatcher %-6s %8d × %6.2f ms\n", p, n[p], 1000 * sum[p] / n[p] }'
    kill "$pid"; wait "$pid" 2>/dev/null || true; pid=
    rm -f "$dir/webhooks.db"*
done
