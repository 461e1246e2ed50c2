#!/usr/bin/env bash
# Flat from 10 to 10,000 tenants, and past one instance (issue 17), on PostgreSQL:
# - the same rows two ways: 10 tenants × 100,000 products, the list route of one tenant; and
#   10,000 tenants × 100 products, each request for one of 1,000 tenants picked at random,
#   each with its own token (bench/spread.lua). Both servers run side by side and their
#   rounds alternate. The caches' hit rates come from /metrics.
# - the list route from one instance straight to PostgreSQL, from one instance through
#   PgBouncer (transaction pooling), and from two instances through the same PgBouncer
#   (wrk on each, half the connections each; their req/s summed).
set -euo pipefail
source "$(dirname "$0")/common.sh"

eval "$(scripts/pg-test-cluster)"
direct=${TENANTRY_TEST_PG_SERVICE_URL%/*}
eval "$(scripts/pg-test-pooler)"
through_pooler=${TENANTRY_TEST_PG_SERVICE_URL%/*}
cargo build --release -p tenantry >&2
bin=target/release/tenantry
rows=${BENCH_SPREAD_ROWS:-1000000}
few=${BENCH_FEW_TENANTS:-10}
many=${BENCH_MANY_TENANTS:-10000}
spread=${BENCH_SPREAD:-1000}
connections=${BENCH_CONNECTIONS:-32}
duration=${BENCH_SECONDS:-10}
rounds=${BENCH_ROUNDS:-3}
port=${BENCH_PORT:-18181}
dir=$(mktemp -d)
pids=()
declare -A pid_on # port → the instance listening there
trap 'kill "${pids[@]}" 2>/dev/null; wait 2>/dev/null; rm -rf "$dir"' EXIT
password='correct horse battery'

owner_url() { echo "${TENANTRY_TEST_PG_URL%/*}/$1"; }
new_db() { # name
    psql "$TENANTRY_TEST_PG_URL" -v ON_ERROR_STOP=1 -qc "DROP DATABASE IF EXISTS $1 WITH (FORCE)" \
        -c "CREATE DATABASE $1 OWNER tenantry_owner" >&2
    TENANTRY_DATABASE_URL=$(owner_url "$1") $bin migrate >&2
    psql "$(owner_url "$1")" -v ON_ERROR_STOP=1 -qc "UPDATE plans SET is_default = false" \
        -c "UPDATE plans SET is_default = true WHERE code = 'enterprise'"
}
serve() { # database, port, service url (optional): starts an instance, waits for it
    local url=${3:-$direct/$1}
    TENANTRY_DATABASE_URL=$url TENANTRY_MIGRATION_DATABASE_URL=$(owner_url "$1") \
        TENANTRY_DB_POOL_SIZE=$connections TENANTRY_RATE_LIMITS=off TENANTRY_LOG=warn \
        TENANTRY_BIND=127.0.0.1:$2 TENANTRY_INTERNAL_BIND=127.0.0.1:$(($2 + 100)) \
        TENANTRY_MAIL_DIR=$dir/mail TENANTRY_MASTER_KEY_FILE=$dir/master.key $bin serve &
    pids+=($!) pid_on[$2]=$!
    for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$2/healthz" >/dev/null && return; sleep 0.2; done
    echo "bench: the instance on port $2 did not start" >&2; exit 1
}
onboard() { # port, slug
    curl -sf -H 'Content-Type: application/json' "http://127.0.0.1:$1/api/v1/onboard" -d '{
      "organisation_name": "Bench '"$2"'", "slug": "'"$2"'", "owner_email": "owner@'"$2"'.test",
      "owner_name": "Owner", "password": "'"$password"'"}' >/dev/null
}
login() { # port, email
    curl -sf -H 'Content-Type: application/json' "http://127.0.0.1:$1/api/v1/auth/login" \
        -d '{"email": "'"$2"'", "password": "'"$password"'"}' |
        sed -E 's/.*"access_token":"([^"]+)".*/\1/'
}
wrk_run() { # port, [wrk args...]: prints "req/s p50 p99 cpu" (milliseconds; the CPU µs one
    # request cost the instance and PostgreSQL, "service+db")
    local out service db
    service=$(ticks "${pid_on[$1]}") db=$(ticks $(pgrep -x postgres))
    out=$(wrk -t2 -c"$connections" -d"${duration}s" --latency "${@:2}" | tee "$dir/wrk.out")
    service=$(($(ticks "${pid_on[$1]}") - service)) db=$(($(ticks $(pgrep -x postgres)) - db))
    local requests
    requests=$(awk '/requests in/ {print $1}' <<<"$out")
    echo "$(awk '/Requests\/sec/ {print $2}' <<<"$out") $(to_ms "$(awk '$1 == "50%" {print $2}' <<<"$out")") $(to_ms "$(awk '$1 == "99%" {print $2}' <<<"$out")") $(per_request "$service" "$requests")+$(per_request "$db" "$requests")"
}
hit_rates() { # port: each cache's hit rate from /metrics
    curl -sf "http://127.0.0.1:$(($1 + 100))/metrics" | awk '
        /^tenantry_cache_lookups_total/ {
            match($0, /cache="[^"]+"/); c = substr($0, RSTART + 7, RLENGTH - 8)
            if ($0 ~ /result="hit"/) hit[c] += $NF; else miss[c] += $NF }
        END { for (c in hit) printf "%s %.1f%%  ", c, 100 * hit[c] / (hit[c] + miss[c] + 0.0001) }'
}
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }

# --- the few-tenants shape: $few tenants × rows/$few products
echo "bench: $few tenants × $((rows / few)) products" >&2
new_db tenantry_bench_few
serve tenantry_bench_few "$port"
for i in $(seq -f '%02g' 1 "$few"); do onboard "$port" "f$i"; done
load_products "$(owner_url tenantry_bench_few)" $((rows / few))
few_token=$(login "$port" owner@f01.test)
# Both shapes' requests are made by the same Lua script (its cost is wrk's, on the same cores).
echo "f01 $few_token" >"$dir/few-token"

# --- the many-tenants shape: $many tenants × rows/$many products, requests over $spread
echo "bench: $many tenants × $((rows / many)) products, requests over $spread tenants" >&2
new_db tenantry_bench_many
serve tenantry_bench_many $((port + 1))
onboard $((port + 1)) m00001
{
    echo "name,subdomain,plan_type,contact_email,max_assets,max_users"
    for i in $(seq -f '%05g' 2 "$many"); do echo "Bench $i,m$i,professional,owner@m$i.test,1000,10"; done
} >"$dir/tenants.csv"
TENANTRY_MIGRATION_DATABASE_URL=$(owner_url tenantry_bench_many) TENANTRY_LOG=warn \
    TENANTRY_MASTER_KEY_FILE=$dir/master.key \
    $bin --database-url "$direct/tenantry_bench_many" tenant import-csv "$dir/tenants.csv" >/dev/null
load_products "$(owner_url tenantry_bench_many)" $((rows / many))
# The first owner joins the first $spread organisations as their owner: one account, a token
# (a session) per organisation.
psql "$(owner_url tenantry_bench_many)" -v ON_ERROR_STOP=1 -q <<SQL
DO \$\$
DECLARE t record; me uuid := (SELECT id FROM users WHERE email = 'owner@m00001.test');
BEGIN
    FOR t IN SELECT id FROM tenants WHERE slug <> 'm00001' ORDER BY slug LIMIT $spread - 1 LOOP
        PERFORM set_config('app.tenant_id', t.id::text, true);
        INSERT INTO memberships (tenant_id, user_id, role_id, status, created_at)
        SELECT t.id, me, r.id, 'active', now() FROM roles r
        WHERE r.tenant_id = t.id AND r.system_role = 'owner';
    END LOOP;
END
\$\$;
SQL
psql "$(owner_url tenantry_bench_many)" -qAt -c "SELECT slug FROM tenants ORDER BY slug LIMIT $spread" >"$dir/slugs"
[ "$(wc -l <"$dir/slugs")" -eq "$spread" ] || { echo "bench: not $spread tenants" >&2; exit 1; }
while read -r slug; do echo "$slug $(login $((port + 1)) owner@m00001.test)"; done <"$dir/slugs" >"$dir/tokens"

echo
echo "PostgreSQL, $rows products either way, $connections connections, ${duration}s each, $(nproc) cores"
# Warm both up first (caches, plans, the pools' connections), as a running service is.
wrk_run "$port" -s bench/spread.lua "http://127.0.0.1:$port/api/v1/products?limit=20" \
    -- "$dir/few-token" >/dev/null
wrk_run $((port + 1)) -s bench/spread.lua "http://127.0.0.1:$((port + 1))/api/v1/products?limit=20" \
    -- "$dir/tokens" >/dev/null
few_rps=() many_rps=() few_p99=() many_p99=()
for _ in $(seq 1 "$rounds"); do
    read -r rps p50 p99 few_cpu < <(wrk_run "$port" -s bench/spread.lua \
        "http://127.0.0.1:$port/api/v1/products?limit=20" -- "$dir/few-token")
    printf '%-52s %10s req/s   p50 %7s ms   p99 %7s ms   CPU %s µs\n' "$few tenants, one tenant's list" \
        "$rps" "$p50" "$p99" "$few_cpu"
    few_rps+=("$rps") few_p99+=("$p99")
    read -r rps p50 p99 many_cpu < <(wrk_run $((port + 1)) -s bench/spread.lua \
        "http://127.0.0.1:$((port + 1))/api/v1/products?limit=20" -- "$dir/tokens")
    printf '%-52s %10s req/s   p50 %7s ms   p99 %7s ms   CPU %s µs\n' "$many tenants, lists spread over $spread" \
        "$rps" "$p50" "$p99" "$many_cpu"
    many_rps+=("$rps") many_p99+=("$p99")
done
few_median=$(median "${few_rps[@]}") many_median=$(median "${many_rps[@]}")
few_p99m=$(median "${few_p99[@]}") many_p99m=$(median "${many_p99[@]}")
echo "cache hit rates, spread shape: $(hit_rates $((port + 1)))"
awk -v a="$many_median" -v b="$few_median" 'BEGIN { printf "%-52s %10.0f%%\n", "spread / one tenant (target >= 90%)", 100 * a / b }'
record "spread over $spread of $many tenants / one of $few" "$many_median" "" "$many_p99m" "$few_median" \
    "$(awk -v a="$many_median" -v b="$few_median" 'BEGIN { printf "%.0f%%", 100 * a / b }')" ">= 90%" \
    "$(awk -v a="$many_median" -v b="$few_median" 'BEGIN { print (a >= 0.9 * b) ? "met" : "NOT MET" }')" \
    "${many_cpu/+/ + } (one tenant ${few_cpu/+/ + })"
record "spread p99 / one tenant's p99" "" "" "$many_p99m" "$few_p99m" \
    "$(awk -v a="$many_p99m" -v b="$few_p99m" 'BEGIN { printf "%.2fx", a / b }')" "<= 2x" \
    "$(awk -v a="$many_p99m" -v b="$few_p99m" 'BEGIN { print (a <= 2 * b) ? "met" : "NOT MET" }')"

# --- past one instance: the few-tenants database through PgBouncer
# The two direct instances are done: their pools hold up to 2 × $connections server sessions,
# and with PgBouncer's 40 more the cluster's 100 connections ran out (an instance behind the
# pooler then failed to start).
kill "${pid_on[$port]}" "${pid_on[$((port + 1))]}"
wait "${pid_on[$port]}" "${pid_on[$((port + 1))]}" 2>/dev/null || true
pooled=$through_pooler/tenantry_bench_few?pgbouncer=true
serve tenantry_bench_few $((port + 2)) "$pooled"
serve tenantry_bench_few $((port + 3)) "$pooled"
token_at() { login "$1" owner@f01.test; }
t2=$(token_at $((port + 2))) t3=$(token_at $((port + 3)))
one=() two=()
for _ in $(seq 1 "$rounds"); do
    read -r rps _ _ pooled_cpu < <(wrk_run $((port + 2)) -H "X-Tenant-ID: f01" -H "Authorization: Bearer $t2" \
        "http://127.0.0.1:$((port + 2))/api/v1/products?limit=20")
    printf '%-52s %10s req/s   CPU %s µs (PgBouncer not counted)\n' "one instance through PgBouncer" \
        "$rps" "$pooled_cpu"
    one+=("$rps")
    half=$((connections / 2))
    wrk -t1 -c"$half" -d"${duration}s" -H "X-Tenant-ID: f01" -H "Authorization: Bearer $t2" \
        "http://127.0.0.1:$((port + 2))/api/v1/products?limit=20" >"$dir/a.out" &
    first=$!
    wrk -t1 -c"$half" -d"${duration}s" -H "X-Tenant-ID: f01" -H "Authorization: Bearer $t3" \
        "http://127.0.0.1:$((port + 3))/api/v1/products?limit=20" >"$dir/b.out"
    wait "$first"
    rps=$(awk '/Requests\/sec/ {s += $2} END {printf "%.2f", s}' "$dir/a.out" "$dir/b.out")
    printf '%-52s %10s req/s\n' "two instances through PgBouncer (summed)" "$rps"
    two+=("$rps")
done
one_m=$(median "${one[@]}") two_m=$(median "${two[@]}")
record "one instance through PgBouncer / direct" "$one_m" "" "" "$few_median" \
    "$(awk -v a="$one_m" -v b="$few_median" 'BEGIN { printf "%.0f%%", 100 * a / b }')" "(reported)" "" \
    "${pooled_cpu/+/ + }"
record "two instances through PgBouncer / one" "$two_m" "" "" "$one_m" \
    "$(awk -v a="$two_m" -v b="$one_m" 'BEGIN { printf "%.2fx", a / b }')" "(reported)" ""
