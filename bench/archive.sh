#!/usr/bin/env bash
# Archives: a tenant of BENCH_ARCHIVE_ROWS products (default 1,000,000) exported with
# `tenantry tenant export` and imported into a fresh database, on SQLite and on PostgreSQL.
# Reported: peak resident memory of each command over the same binary's `tenant show`
# (what start-up alone takes: the target is that the export does not grow with the rows),
# the import's peak likewise (its rows travel in parts; the transaction is the database's),
# and the time beside a floor measured in the same run — the database's own tool writing the
# same rows as JSON through the same gzip level (sqlite3 json_object / psql COPY row_to_json).
set -euo pipefail
source "$(dirname "$0")/common.sh"

eval "$(scripts/pg-test-cluster)"
cargo build --release -p tenantry >&2
rows=${BENCH_ARCHIVE_ROWS:-1000000}
bin=$PWD/target/release/tenantry
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
export TENANTRY_LOG=warn TENANTRY_FILES=$dir/files TENANTRY_MASTER_KEY_FILE=$dir/master.key

# "%M %e": peak RSS (KiB) and seconds of a command.
measure() { /usr/bin/time -f "%M %e" -o "$dir/time" "$@" >/dev/null; cat "$dir/time"; }
row() { printf '%-58s %s\n' "$1" "$2"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

report() { # backend, show, export, import, floor seconds, archive size
    local show_kib=${2% *} export_kib=${3% *} export_s=${3#* } import_kib=${4% *} import_s=${4#* }
    row "$1: tenant show (start-up, peak RSS)" "$((show_kib / 1024)) MB"
    row "$1: export $rows rows (peak RSS, over start-up)" "$((export_kib / 1024)) MB (+$(((export_kib - show_kib) / 1024)) MB)"
    row "$1: export time / floor ($5 s)" "$export_s s → $(ratio "$export_s" "$5")"
    row "$1: export rows/s" "$(awk -v r="$rows" -v s="$export_s" 'BEGIN { printf "%.0f", r / s }')"
    row "$1: archive size" "$(($6 / 1024 / 1024)) MiB"
    row "$1: import (peak RSS, over start-up)" "$((import_kib / 1024)) MB (+$(((import_kib - show_kib) / 1024)) MB)"
    row "$1: import time, rows/s" "$import_s s, $(awk -v r="$rows" -v s="$import_s" 'BEGIN { printf "%.0f", r / s }')"
}

fresh_pg() { # name → sets owner_url, service_url
    owner_url=${TENANTRY_TEST_PG_URL%/*}/$1
    service_url=${TENANTRY_TEST_PG_SERVICE_URL%/*}/$1
    psql "$TENANTRY_TEST_PG_URL" -v ON_ERROR_STOP=1 -qc "DROP DATABASE IF EXISTS $1 WITH (FORCE)" \
        -c "CREATE DATABASE $1 OWNER tenantry_owner" >&2
    TENANTRY_DATABASE_URL=$owner_url $bin migrate >&2
    export TENANTRY_MIGRATION_DATABASE_URL=$owner_url
}
seconds_since() { awk -v s="$1" -v e="$(date +%s.%N)" 'BEGIN { printf "%.2f", e - s }'; }

# --- PostgreSQL (row-level security on, the service's role): the rows made by SQL
fresh_pg tenantry_bench_archive
$bin --database-url "$service_url" tenant create --slug big --name Big >&2
tenant=$(psql "$owner_url" -qAt -c "SELECT id FROM tenants WHERE slug = 'big'")
PGOPTIONS="-c app.tenant_id=$tenant" psql "$owner_url" -v ON_ERROR_STOP=1 -qc "INSERT INTO products (tenant_id, id, name, sku, description,
  price_minor, currency, status, created_by, created_at, updated_at)
  SELECT '$tenant', ('01a00000-0000-7000-8000-' || lpad(i::text, 12, '0'))::uuid, 'Product ' || i,
         'SKU-' || i, 'A description of product number ' || i, i, 'EUR', 'active', NULL,
         '2026-11-30 12:00:00.000001+00', '2026-11-30 12:00:00.000001+00'
  FROM generate_series(1, $rows) i" >&2
start=$(date +%s.%N)
PGOPTIONS="-c app.tenant_id=$tenant" psql "$owner_url" -qAt -c "COPY (SELECT row_to_json(p) FROM (SELECT id, name, sku, description, price_minor,
  currency, status, created_by, created_at, updated_at FROM products WHERE tenant_id = '$tenant') p) TO STDOUT" \
    | gzip -3 > "$dir/floor.gz"
pg_floor=$(seconds_since "$start")
pg_show=$(measure $bin --database-url "$service_url" tenant show big)
pg_export=$(measure $bin --database-url "$service_url" tenant export big --out "$dir/big-pg.tar.gz" --unencrypted)
pg_size=$(stat -c %s "$dir/big-pg.tar.gz")

# --- SQLite: that archive imported, then exported from SQLite
src=sqlite://$dir/source.db
unset TENANTRY_MIGRATION_DATABASE_URL
sqlite_import=$(measure $bin --database-url "$src" tenant import "$dir/big-pg.tar.gz")
start=$(date +%s.%N)
sqlite3 "$dir/source.db" "SELECT json_object('id', id, 'name', name, 'sku', sku, 'description', description,
  'price_minor', price_minor, 'currency', currency, 'status', status, 'created_by', created_by,
  'created_at', created_at, 'updated_at', updated_at) FROM products WHERE tenant_id = '$tenant'" \
    | gzip -3 > "$dir/floor.gz"
sqlite_floor=$(seconds_since "$start")
sqlite_show=$(measure $bin --database-url "$src" tenant show big)
sqlite_export=$(measure $bin --database-url "$src" tenant export big --out "$dir/big.tar.gz" --unencrypted)
sqlite_size=$(stat -c %s "$dir/big.tar.gz")

# --- and into a fresh PostgreSQL database
fresh_pg tenantry_bench_archive_to
pg_import=$(measure $bin --database-url "$service_url" tenant import "$dir/big.tar.gz")
sqlite_report=$(report sqlite "$sqlite_show" "$sqlite_export" "$sqlite_import" "$sqlite_floor" "$sqlite_size")
pg_report=$(report postgres "$pg_show" "$pg_export" "$pg_import" "$pg_floor" "$pg_size")
for d in tenantry_bench_archive tenantry_bench_archive_to; do
    psql "$TENANTRY_TEST_PG_URL" -qc "DROP DATABASE IF EXISTS $d WITH (FORCE)" >&2
done

echo
echo "$sqlite_report"
echo "$pg_report"
