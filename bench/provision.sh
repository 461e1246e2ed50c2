#!/usr/bin/env bash
# Bulk provisioning: BENCH_PROVISION_TENANTS rows (default 2,000) of the seeds' CSV format
# created with `tenantry tenant import-csv` in one transaction, on PostgreSQL (row-level
# security on, the service's role) and on SQLite. Reported: tenants per second (the issue's
# target: at least 200 on PostgreSQL), start-up (`tenant list` on the same database)
# subtracted; and, as the floor measured in the same run, the same number of one-row INSERT
# statements sent by psql in one transaction — what one round trip per tenant costs here.
set -euo pipefail
source "$(dirname "$0")/common.sh"

eval "$(scripts/pg-test-cluster)"
cargo build --release -p tenantry >&2
n=${BENCH_PROVISION_TENANTS:-2000}
bin=$PWD/target/release/tenantry
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
export TENANTRY_LOG=warn TENANTRY_FILES=$dir/files TENANTRY_MASTER_KEY_FILE=$dir/master.key

row() { printf '%-58s %s\n' "$1" "$2"; }
seconds() { /usr/bin/time -f "%e" -o "$dir/time" "$@" >/dev/null; cat "$dir/time"; }
rate() { awk -v n="$n" -v t="$1" -v s="$2" 'BEGIN { printf "%.0f", n / (t - s) }'; }

{
    echo "name,subdomain,plan_type,contact_email,max_assets,max_users"
    for i in $(seq 1 "$n"); do
        plan=professional
        [ $((i % 2)) -eq 0 ] && plan=basic
        echo "\"Company $i\",company-$i,$plan,owner@company-$i.test,$((100 + i)),$((10 + i % 50))"
    done
} > "$dir/tenants.csv"

# --- PostgreSQL
owner_url=${TENANTRY_TEST_PG_URL%/*}/tenantry_bench_provision
service_url=${TENANTRY_TEST_PG_SERVICE_URL%/*}/tenantry_bench_provision
psql "$TENANTRY_TEST_PG_URL" -v ON_ERROR_STOP=1 -qc "DROP DATABASE IF EXISTS tenantry_bench_provision WITH (FORCE)" \
    -c "CREATE DATABASE tenantry_bench_provision OWNER tenantry_owner" >&2
TENANTRY_DATABASE_URL=$owner_url $bin migrate >&2
export TENANTRY_MIGRATION_DATABASE_URL=$owner_url
pg_start=$(seconds $bin --database-url "$service_url" tenant list)
pg_bulk=$(seconds $bin --database-url "$service_url" tenant import-csv "$dir/tenants.csv")
created=$(psql "$owner_url" -qAt -c "SELECT count(*) FROM tenants")
[ "$created" -eq "$n" ] || { echo "bench: $created tenants, not $n" >&2; exit 1; }
{
    echo "BEGIN; CREATE TEMP TABLE floor (id int PRIMARY KEY, slug text NOT NULL);"
    for i in $(seq 1 "$n"); do echo "INSERT INTO floor VALUES ($i, 'company-$i');"; done
    echo "COMMIT;"
} > "$dir/floor.sql"
start=$(date +%s.%N)
psql "$owner_url" -v ON_ERROR_STOP=1 -q -f "$dir/floor.sql" >/dev/null
floor=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.3f", e - s }')
psql "$TENANTRY_TEST_PG_URL" -qc "DROP DATABASE IF EXISTS tenantry_bench_provision WITH (FORCE)" >&2 || true
unset TENANTRY_MIGRATION_DATABASE_URL

# --- SQLite
db=sqlite://$dir/bench.db
$bin --database-url "$db" migrate >&2
sqlite_start=$(seconds $bin --database-url "$db" tenant list)
sqlite_bulk=$(seconds $bin --database-url "$db" tenant import-csv "$dir/tenants.csv")

echo
row "postgres: $n tenants in one transaction" "$pg_bulk s (start-up $pg_start s)"
row "postgres: tenants/s (target ≥ 200)" "$(rate "$pg_bulk" "$pg_start")"
row "postgres: floor, $n one-row INSERTs by psql" "$floor s"
row "postgres: time per tenant / one INSERT round trip" "$(awk -v a="$pg_bulk" -v s="$pg_start" -v f="$floor" 'BEGIN { printf "%.1f", (a - s) / f }')"
row "sqlite: $n tenants in one transaction" "$sqlite_bulk s (start-up $sqlite_start s)"
row "sqlite: tenants/s" "$(rate "$sqlite_bulk" "$sqlite_start")"
