#!/usr/bin/env bash
# The event backbone's numbers, each beside a floor from the same run:
#  1. the job queue on PostgreSQL and SQLite (crates/worker/examples/queue_bench.rs):
#     enqueue→start latency at idle (PostgreSQL: enqueued by another pool, so the worker
#     learns of it by LISTEN/NOTIFY) beside one database round trip, and no-op jobs run per
#     second beside the enqueue rate (one write transaction per job);
#  2. the price of the outbox on writes: POST /api/v1/products on this tree and on the last
#     commit before the backbone (BENCH_BEFORE, built in a worktree), alternating rounds on
#     one PostgreSQL, medians compared.
# Loopback only; installs wrk (and PostgreSQL) when missing.
set -euo pipefail
source "$(dirname "$0")/common.sh"

eval "$(scripts/pg-test-cluster)"
before_rev=${BENCH_BEFORE:-33a8d1d}
jobs=${BENCH_JOBS:-20000}
connections=${BENCH_CONNECTIONS:-32}
duration=${BENCH_SECONDS:-10}
rounds=${BENCH_ROUNDS:-5}
dir=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
    rm -rf "$dir"
}
trap cleanup EXIT

cargo build --release -p tenantry >&2
cargo build --release -p tenantry-worker --example queue_bench >&2
# The earlier tree lives in a worktree at a fixed path, so that its build is reused.
before_src=target/bench-before-src
if [ "$(git -C "$before_src" rev-parse HEAD 2>/dev/null)" != "$(git rev-parse "$before_rev")" ]; then
    echo "bench: checking out $before_rev (before the outbox)" >&2
    git worktree remove --force "$before_src" 2>/dev/null || rm -rf "$before_src"
    git worktree prune
    git worktree add --detach "$before_src" "$before_rev" >&2
fi
CARGO_TARGET_DIR=target/bench-before cargo build --release -p tenantry \
    --manifest-path "$before_src/Cargo.toml" >&2

fresh_db() { # name → prints its service URL after migrating it as the owner
    local db=$1
    psql "$TENANTRY_TEST_PG_URL" -v ON_ERROR_STOP=1 -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" \
        -c "CREATE DATABASE $db OWNER tenantry_owner" >&2
    TENANTRY_DATABASE_URL=${TENANTRY_TEST_PG_URL%/*}/$db "${2:-target/release/tenantry}" migrate >&2
    echo "${TENANTRY_TEST_PG_SERVICE_URL%/*}/$db"
}

echo
echo "== the job queue"
target/release/examples/queue_bench "$(fresh_db tenantry_bench_jobs)" "$jobs"
TENANTRY_DATABASE_URL="sqlite://$dir/jobs.db" target/release/tenantry migrate >&2
target/release/examples/queue_bench "sqlite://$dir/jobs.db" "$jobs"

echo
echo "== POST /api/v1/products, before and after the outbox (PostgreSQL, $connections connections, ${duration}s, median of $rounds)"
serve() { # binary, database url, port: starts a server (in this shell, so cleanup stops it)
    TENANTRY_DATABASE_URL=$2 TENANTRY_DB_POOL_SIZE=$connections TENANTRY_BIND=127.0.0.1:$3 TENANTRY_INTERNAL_BIND=off \
        TENANTRY_LOG=warn TENANTRY_MAIL_DIR=$dir/mail-$3 TENANTRY_RATE_LIMITS=off "$1" serve >"$dir/serve-$3.log" 2>&1 &
    pids+=($!)
    for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$3/healthz" >/dev/null && break; sleep 0.2; done
}
owner_token() { # port → an owner's access token of a new tenant
    curl -sf -H 'Content-Type: application/json' "http://127.0.0.1:$1/api/v1/onboard" -d '{
      "organisation_name": "Bench", "slug": "bench", "owner_email": "owner@bench.test",
      "owner_name": "Owner", "password": "correct horse battery"}' |
        sed -E 's/.*"access_token":"([^"]+)".*/\1/'
}
serve target/bench-before/release/tenantry \
    "$(fresh_db tenantry_bench_before target/bench-before/release/tenantry)" 18091
serve target/release/tenantry "$(fresh_db tenantry_bench_after)" 18092
before_token=$(owner_token 18091)
after_token=$(owner_token 18092)
post() { # port, token → req/s
    wrk -t2 -c"$connections" -d"${duration}s" -H "X-Tenant-ID: bench" -H "Authorization: Bearer $2" \
        -s bench/create_product.lua "http://127.0.0.1:$1/api/v1/products" |
        awk '/Requests\/sec/ {print $2}'
}
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }
# One unreported round each first: a fresh cluster is slower while its WAL files are new.
post 18091 "$before_token" >/dev/null
post 18092 "$after_token" >/dev/null
befores=() afters=()
for _ in $(seq 1 "$rounds"); do
    befores+=("$(post 18091 "$before_token")")
    afters+=("$(post 18092 "$after_token")")
    printf '%-44s %10s req/s\n' "  before ($before_rev)" "${befores[-1]}" "  after (this tree)" "${afters[-1]}"
done
before=$(median "${befores[@]}")
after=$(median "${afters[@]}")
printf '%-44s %10.2f req/s\n' "before the outbox, median" "$before" "with the outbox, median" "$after"
awk -v b="$before" -v a="$after" 'BEGIN { printf "%-44s %10.1f%%\n", "with / before", 100 * a / b }'
