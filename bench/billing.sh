#!/usr/bin/env bash
# Plans, quotas, limits and metering on PostgreSQL, each against its own floor in the same run:
#  - the price of request limits and quota accounting on the hot path: GET and POST
#    /api/v1/products with limits off, in-process and in Redis (rounds alternate; medians);
#  - usage ingestion: POST /api/v1/usage-events in batches of 100, against pgbench inserting
#    the same 100-row batches in the service's RLS transaction;
#  - one aggregation over 1,000,000 events (sum and unique count), against the same SELECT in
#    psql.
# Loopback only; installs wrk, PostgreSQL and redis-server when missing.
set -euo pipefail
source "$(dirname "$0")/common.sh"

eval "$(scripts/pg-test-cluster)"
if ! command -v redis-server >/dev/null 2>&1; then
    apt-get update -qq >&2 && apt-get install -y -qq redis-server >&2
fi
cargo build --release -p tenantry >&2

connections=${BENCH_CONNECTIONS:-32}
duration=${BENCH_SECONDS:-10}
rounds=${BENCH_ROUNDS:-3}
events=${BENCH_EVENTS:-1000000}
port=18083
redis_port=18379
base="http://127.0.0.1:$port"
db=tenantry_bench_billing
owner_url=${TENANTRY_TEST_PG_URL%/*}/$db
service_url=${TENANTRY_TEST_PG_SERVICE_URL%/*}/$db
dir=$(mktemp -d)
pid=
redis_pid=
stop_server() { [ -n "$pid" ] && { kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true; }; pid=; }
trap 'stop_server; [ -n "$redis_pid" ] && kill "$redis_pid" 2>/dev/null; rm -rf "$dir"' EXIT

psql_owner() { psql "$owner_url" -v ON_ERROR_STOP=1 -qAt "$@"; }
psql "${TENANTRY_TEST_PG_URL}" -v ON_ERROR_STOP=1 -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" \
    -c "CREATE DATABASE $db OWNER tenantry_owner" >&2
TENANTRY_DATABASE_URL=$owner_url target/release/tenantry migrate >&2
# Tenants start on a plan whose tier the bench never reaches (the limiter runs, never
# refuses), without quotas; two metrics to ingest and aggregate.
psql_owner <<'SQL'
UPDATE plans SET is_default = false;
INSERT INTO plans VALUES ('bench', 'Bench', '', 'USD', 0, 0, '{}', 1000000000,
    '{"webhooks":true}', 0, false, true, now(), now());
INSERT INTO billable_metrics VALUES ('bench_gb', 'GB', 'sum', 'gb', now()),
    ('bench_users', 'Users', 'unique_count', 'user', now());
SQL

export TENANTRY_DATABASE_URL=$service_url TENANTRY_MIGRATION_DATABASE_URL=$owner_url
export TENANTRY_DB_POOL_SIZE=$connections
start_server() { # label, extra environment…
    local label=$1
    shift
    env TENANTRY_BIND=127.0.0.1:$port TENANTRY_INTERNAL_BIND=off TENANTRY_LOG=warn \
        TENANTRY_MAIL_DIR=$dir/mail "$@" target/release/tenantry serve >"$dir/serve-$label.log" 2>&1 &
    pid=$!
    for _ in $(seq 1 100); do curl -sf "$base/readyz" >/dev/null && return; sleep 0.1; done
    echo "bench: the server ($label) did not start" >&2
    exit 1
}

start_server setup TENANTRY_RATE_LIMITS=off
for slug in t001 t002; do
    curl -sf -H 'Content-Type: application/json' "$base/api/v1/onboard" -d '{
      "organisation_name": "Bench", "slug": "'"$slug"'", "owner_email": "owner@'"$slug"'.test",
      "owner_name": "Owner", "password": "correct horse battery"}' >/dev/null
done
stop_server
t1=$(psql_owner -c "SELECT id FROM tenants WHERE slug = 't001'")
t2=$(psql_owner -c "SELECT id FROM tenants WHERE slug = 't002'")

echo "bench: 10,000 products in t001, $events usage events of each metric in t002" >&2
psql_owner >/dev/null <<SQL
BEGIN;
SELECT set_config('app.tenant_id', '$t1', true);
INSERT INTO products (tenant_id, id, name, sku, description, price_minor, currency, status,
                      created_by, created_at, updated_at)
SELECT '$t1', gen_random_uuid(), 'Product ' || n, 'SKU-' || n, 'An item', n, 'EUR', 'active',
       NULL, now() - (n || ' seconds')::interval, now()
FROM generate_series(1, 10000) AS n;
UPDATE tenant_quotas SET used = 10000 WHERE resource = 'products';
COMMIT;
BEGIN;
SELECT set_config('app.tenant_id', '$t2', true);
INSERT INTO usage_events (tenant_id, transaction_id, metric, occurred_at, day, value, unique_key,
                          properties, received_at)
SELECT '$t2', 'e-' || n, m, ts, to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD'),
       CASE WHEN m = 'bench_gb' THEN (n % 100) / 10.0 END,
       CASE WHEN m = 'bench_users' THEN 'user-' || (n % 50000) END, '{}', now()
FROM (SELECT n, CASE WHEN n % 2 = 0 THEN 'bench_gb' ELSE 'bench_users' END AS m,
             date_trunc('month', now()) + ((n % 2400000) || ' seconds')::interval AS ts
      FROM generate_series(1, 2 * $events) AS n) e;
-- What the ingest path keeps beside the events: day rollups and distinct-value sets (the
-- bench's metrics are a sum and a unique count; the newest event is not read).
INSERT INTO usage_rollups (tenant_id, metric, day, shard, events, total, maximum, latest_at,
                           latest_id, latest)
SELECT tenant_id, metric, day, 0, COUNT(*), SUM(value), MAX(value), MAX(occurred_at),
       MAX(transaction_id), NULL
FROM usage_events WHERE tenant_id = '$t2' GROUP BY tenant_id, metric, day;
INSERT INTO usage_uniques (tenant_id, metric, period, unique_key)
SELECT DISTINCT tenant_id, metric, day, unique_key FROM usage_events
WHERE tenant_id = '$t2' AND unique_key IS NOT NULL
UNION
SELECT DISTINCT tenant_id, metric, substr(day, 1, 7), unique_key FROM usage_events
WHERE tenant_id = '$t2' AND unique_key IS NOT NULL;
COMMIT;
VACUUM ANALYZE products;
VACUUM ANALYZE usage_events;
VACUUM ANALYZE usage_rollups;
VACUUM ANALYZE usage_uniques;
SQL

login() { curl -sf -H 'Content-Type: application/json' "$base/api/v1/auth/login" \
    -d '{"email": "owner@'"$1"'.test", "password": "correct horse battery"}' |
    sed -E 's/.*"access_token":"([^"]+)".*/\1/'; }
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }
wrk_rps() { # path, [wrk args]
    local path=$1
    shift
    wrk -t2 -c"$connections" -d"${duration}s" -H "X-Tenant-ID: t001" \
        -H "Authorization: Bearer $token" "$@" "$base$path" | awk '/Requests\/sec/ {print $2}'
}

cpu_ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
wrk_read() { # the list route: requests/s, and the server's CPU time per request (µs)
    local before after out
    before=$(cpu_ticks)
    out=$(wrk -t2 -c"$connections" -d"${duration}s" -H "X-Tenant-ID: t001" \
        -H "Authorization: Bearer $token" "$base/api/v1/products?limit=20")
    after=$(cpu_ticks)
    awk -v b="$before" -v a="$after" -v hz="$(getconf CLK_TCK)" '
        /requests in/ {n = $1} /Requests\/sec/ {r = $2}
        END {printf "%s %.1f\n", r, (a - b) * 1e6 / hz / n}' <<<"$out"
}

redis-server --port $redis_port --bind 127.0.0.1 --save "" --appendonly no >/dev/null 2>&1 &
redis_pid=$!
declare -A list cpu create
for mode in off in-process redis; do list[$mode]=""; cpu[$mode]=""; create[$mode]=""; done
# A warm-up the numbers do not keep (page cache, plans, the first rows' splits).
start_server warm-up TENANTRY_RATE_LIMITS=off
token=$(login t001)
wrk_rps '/api/v1/products?limit=20' >/dev/null
wrk_rps /api/v1/products -s bench/create_product.lua >/dev/null
stop_server
modes=(off in-process redis)
for round in $(seq 1 "$rounds"); do
    # Each round starts with another mode, so drift over the run does not favour one.
    for i in 0 1 2; do
        mode=${modes[$(((round + i) % 3))]}
        case $mode in
            off) start_server "$mode-$round" TENANTRY_RATE_LIMITS=off ;;
            in-process) start_server "$mode-$round" TENANTRY_RATE_LIMITS=on ;;
            redis) start_server "$mode-$round" TENANTRY_RATE_LIMITS=on \
                TENANTRY_REDIS_URL=redis://127.0.0.1:$redis_port/ ;;
        esac
        token=$(login t001)
        read -r rps us < <(wrk_read)
        list[$mode]+=" $rps"
        cpu[$mode]+=" $us"
        create[$mode]+=" $(wrk_rps /api/v1/products -s bench/create_product.lua)"
        stop_server
    done
done
echo
echo "PostgreSQL, $connections connections, ${duration}s each, $rounds rounds, $(nproc) cores"
for mode in off in-process redis; do
    # shellcheck disable=SC2086
    printf '%-48s %10.0f req/s %7.1f µs CPU   POST /api/v1/products %8.0f req/s\n' \
        "GET /api/v1/products?limit=20, limits $mode" "$(median ${list[$mode]})" \
        "$(median ${cpu[$mode]})" "$(median ${create[$mode]})"
    printf '    rounds: GET%s | POST%s\n' "${list[$mode]}" "${create[$mode]}"
done
ratio() { awk -v a="$1" -v b="$2" -v n="$3" 'BEGIN { printf "%-48s %9.1f%%\n", n, 100 * (1 - a / b) }'; }
# The price within each round (its modes ran minutes apart, not the whole run), the median of
# the rounds' — and beside it the ratio of the medians.
paired() { # on, off (a value per round each), label
    local per
    per=$(awk -v a="$1" -v b="$2" 'BEGIN { k = split(a, x, " "); split(b, y, " ")
        for (i = 1; i <= k; i++) print 100 * (1 - x[i] / y[i]) }')
    # shellcheck disable=SC2086
    awk -v n="$3" -v m="$(median $per)" -v on="$(median $1)" -v off="$(median $2)" \
        'BEGIN { printf "%-48s %9.1f%%   (of the medians: %.1f%%)\n", n, m, 100 * (1 - on / off) }'
}
# How many limited requests one script call carried (checks of one key travel together).
calls=$(redis-cli -p "$redis_port" INFO commandstats | tr -d '\r' |
    awk -F'[=,:]' '/^cmdstat_(evalsha|eval):/ {n += $3} END {print n + 0}')
# shellcheck disable=SC2086
awk -v c="$calls" -v d="$duration" -v l="${list[redis]}" -v p="${create[redis]}" 'BEGIN {
    n = split(l, a, " "); for (i = 1; i <= n; i++) r += a[i] * d
    n = split(p, a, " "); for (i = 1; i <= n; i++) r += a[i] * d
    printf "%-48s %10.2f\n", "requests per Redis call", (c > 0 ? r / c : 0) }'
# shellcheck disable=SC2086
{
    paired "${list[in-process]}" "${list[off]}" "price on reads, in-process"
    paired "${list[redis]}" "${list[off]}" "price on reads, Redis"
    ratio "$(median ${cpu[off]})" "$(median ${cpu[in-process]})" "server CPU per read spent on limits, in-process"
    ratio "$(median ${cpu[off]})" "$(median ${cpu[redis]})" "server CPU per read spent on limits, Redis"
    paired "${create[in-process]}" "${create[off]}" "price on creates, in-process"
    paired "${create[redis]}" "${create[off]}" "price on creates, Redis"
}

# Quota accounting cannot be switched off (it is part of every create's transaction), so its
# own price is measured at the database: the create's transaction as the service sends it
# (product, audit head, entry, event), with and without the quota counter's UPDATE.
create_sql() { # 1: with the quota counter
    echo "BEGIN;"
    echo "SET LOCAL app.tenant_id = '$t1';"
    echo "INSERT INTO products (tenant_id, id, name, sku, description, price_minor, currency, status, created_by, created_at, updated_at) VALUES ('$t1', gen_random_uuid(), 'Floor', 'F-' || gen_random_uuid(), '', 1, 'EUR', 'active', NULL, now(), now());"
    echo "UPDATE audit_heads SET seq = seq WHERE tenant_id = '$t1' RETURNING seq, hash;"
    [ "$1" = 1 ] && echo "UPDATE tenant_quotas SET used = used + 1, updated_at = now() WHERE tenant_id = '$t1' AND resource = 'products' RETURNING used, limit_value;"
    echo "INSERT INTO audit_entries (tenant_id, seq, id, at, actor_type, actor_id, api_key_id, entity_type, entity_id, action, changes, request_id, ip, user_agent, prev_hash, hash) SELECT tenant_id, seq + 1, gen_random_uuid(), now(), 'system', NULL, NULL, 'product', gen_random_uuid()::text, 'created', '{}', NULL, '127.0.0.1', 'pgbench', hash, md5(random()::text) FROM audit_heads WHERE tenant_id = '$t1';"
    echo "UPDATE audit_heads SET seq = seq + 1, hash = md5(random()::text) WHERE tenant_id = '$t1';"
    echo "INSERT INTO events (tenant_id, id, type, occurred_at, payload) VALUES ('$t1', gen_random_uuid(), 'product.created', now(), '{}');"
    echo "COMMIT;"
}
create_sql 0 >"$dir/create-bare.sql"
create_sql 1 >"$dir/create-quota.sql"
bare=""
quota=""
for round in $(seq 1 "$rounds"); do
    for f in bare quota; do
        tps=$(pgbench "$service_url" -n -M prepared -c "$connections" -j 2 -T "$duration" \
            -f "$dir/create-$f.sql" 2>/dev/null | awk '/^tps/ {print $3}')
        if [ "$f" = bare ]; then bare+=" $tps"; else quota+=" $tps"; fi
    done
done
echo
# shellcheck disable=SC2086
{
    printf '%-48s %10.0f tx/s   (rounds:%s)\n' "floor: a create's transaction, no quota counter" \
        "$(median $bare)" "$bare"
    printf '%-48s %10.0f tx/s   (rounds:%s)\n' "the same with the quota counter" \
        "$(median $quota)" "$quota"
    ratio "$(median $quota)" "$(median $bare)" "price of quota accounting, one tenant's creates"
}

# Ingestion: batches of 100 events, each id once.
cat >"$dir/usage.lua" <<'LUA'
-- Each wrk thread its own tag: an unseeded math.random gives every thread the same number.
local threads = 0
function setup(thread)
    threads = threads + 1
    thread:set("tag", string.format("%d-%d", os.time(), threads))
end
local counter = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
request = function()
    counter = counter + 1
    local now = os.date("!%Y-%m-%dT%H:%M:%SZ")
    local events = {}
    for i = 1, 100 do
        events[i] = string.format(
            '{"transaction_id":"%s-%d-%d","metric":"bench_gb","timestamp":"%s","properties":{"gb":1.5}}',
            tag, counter, i, now)
    end
    return wrk.format(nil, nil, nil, '{"events":[' .. table.concat(events, ",") .. ']}')
end
LUA
cat >"$dir/insert.sql" <<SQL
BEGIN;
SET LOCAL app.tenant_id = '$t1';
INSERT INTO usage_events (tenant_id, transaction_id, metric, occurred_at, day, value, unique_key,
                          properties, received_at)
SELECT '$t1', md5(random()::text || n), 'bench_gb', now(), to_char(now(), 'YYYY-MM-DD'), 1.5,
       NULL, '{"gb":1.5}', now()
FROM generate_series(1, 100) AS n ON CONFLICT DO NOTHING;
COMMIT;
SQL
start_server ingest TENANTRY_RATE_LIMITS=off
token=$(login t001)
ingest=$(wrk_rps /api/v1/usage-events -s "$dir/usage.lua")
stop_server
floor=$(pgbench "$service_url" -n -M prepared -c "$connections" -j 2 -T "$duration" \
    -f "$dir/insert.sql" 2>/dev/null | awk '/^tps/ {print $3}')
echo
awk -v r="$ingest" -v f="$floor" 'BEGIN {
    printf "%-40s %10.0f events/s\n", "POST /api/v1/usage-events (100 a batch)", r * 100
    printf "%-40s %10.0f events/s\n", "floor: pgbench, the same 100-row inserts", f * 100
    printf "%-40s %9.0f%%\n", "ingestion / floor", 100 * r / f }'

# Aggregations over the million events of each metric, through the API (rollups), beside the
# same aggregation as one bare SQL scan of the events.
start_server aggregate TENANTRY_RATE_LIMITS=off
token=$(login t002)
from=$(date -u +%Y-%m-01T00:00:00Z)
to=$(date -u -d "$from +40 days" +%Y-%m-%dT00:00:00Z)
now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
api_ms() { # metric, to, granularity
    local times=()
    for _ in 1 2 3 4 5 6 7; do
        times+=("$(curl -sf -o /dev/null -w '%{time_total}' -H "X-Tenant-ID: t002" \
            -H "Authorization: Bearer $token" \
            "$base/api/v1/usage?metric=$1&from=$from&to=$2&granularity=$3")")
    done
    awk -v t="$(median "${times[@]}")" 'BEGIN { printf "%.1f", t * 1000 }'
}
sql_ms() {
    local times=()
    for _ in 1 2 3 4 5 6 7; do
        times+=("$(psql_owner -c '\timing on' -c "SELECT set_config('app.tenant_id', '$t2', false)" \
            -c "SELECT substr(day, 1, 7), COUNT(*), COUNT(DISTINCT unique_key), SUM(value), MAX(value)
                FROM usage_events WHERE tenant_id = '$t2' AND metric = '$1'
                AND occurred_at >= '$from' AND occurred_at < '$to' GROUP BY 1" |
            awk '/^Time:/ {t = $2} END {print t}')")
    done
    median "${times[@]}"
}
echo
for metric in bench_gb bench_users; do
    printf '%-56s %8s ms   (bare SQL over the events: %s ms)\n' \
        "GET /api/v1/usage $metric, $events events, by month" \
        "$(api_ms $metric "$to" month)" "$(sql_ms $metric)"
    printf '%-56s %8s ms\n' "GET /api/v1/usage $metric, $events events, by day" \
        "$(api_ms $metric "$to" day)"
    printf '%-56s %8s ms\n' "GET /api/v1/usage $metric, month to date (to=now)" \
        "$(api_ms $metric "$now" month)"
done
stop_server
