#!/usr/bin/env bash
# The tenant's edge on PostgreSQL, each against a floor measured in the same run:
#  - resolution on the hot path: GET /api/v1/tenant (resolution, gates, the cached settings
#    and profile) named by a verified custom domain vs by the tenant's subdomain, rounds
#    alternating (target: equal within noise);
#  - the TLS ask (GET /internal/tls/ask?domain=<custom domain>) against the same endpoint
#    asked for the platform's own host, which looks nothing up (target: >= 20,000/s).
# Loopback only; installs wrk and PostgreSQL when missing.
set -euo pipefail
source "$(dirname "$0")/common.sh"

eval "$(scripts/pg-test-cluster)"
cargo build --release -p tenantry >&2

connections=${BENCH_CONNECTIONS:-32}
duration=${BENCH_SECONDS:-10}
rounds=${BENCH_ROUNDS:-5}
port=18084
internal=18085
base="http://127.0.0.1:$port"
db=tenantry_bench_edge
owner_url=${TENANTRY_TEST_PG_URL%/*}/$db
service_url=${TENANTRY_TEST_PG_SERVICE_URL%/*}/$db
dir=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$dir"' EXIT

psql "${TENANTRY_TEST_PG_URL}" -v ON_ERROR_STOP=1 -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" \
    -c "CREATE DATABASE $db OWNER tenantry_owner" >&2
TENANTRY_DATABASE_URL=$owner_url target/release/tenantry migrate >&2

TENANTRY_DATABASE_URL=$service_url TENANTRY_MIGRATION_DATABASE_URL=$owner_url \
    TENANTRY_DB_POOL_SIZE=$connections TENANTRY_BIND=127.0.0.1:$port \
    TENANTRY_INTERNAL_BIND=127.0.0.1:$internal TENANTRY_LOG=warn TENANTRY_RATE_LIMITS=off \
    TENANTRY_OPERATOR_TOKEN=bench TENANTRY_MAIL_DIR=$dir/mail \
    target/release/tenantry serve >"$dir/serve.log" 2>&1 &
pid=$!
for _ in $(seq 1 100); do curl -sf "$base/readyz" >/dev/null && break; sleep 0.1; done

# A tenant with a verified custom domain (the operator's override: no DNS here); the
# subdomain stays primary, and every request opts out of the redirect to it (both hosts pay
# the same).
curl -sf -H 'Content-Type: application/json' "$base/api/v1/onboard" -d '{
  "organisation_name": "Acme", "slug": "acme", "owner_email": "owner@acme.test",
  "owner_name": "Owner", "password": "correct horse battery"}' >/dev/null
op() { curl -sf -X POST -H 'Authorization: Bearer bench' -H 'Content-Type: application/json' "$base$1" -d "${2:-{\}}" >/dev/null; }
op /api/v1/platform/tenants/acme/domains '{"hostname": "portal.acme.example"}'
op /api/v1/platform/tenants/acme/domains/portal.acme.example/verify
no_redirect="X-Tenantry-No-Redirect: 1"
for host in acme.localhost portal.acme.example; do
    code=$(curl -s -o /dev/null -w '%{http_code}' -H "Host: $host" -H "$no_redirect" "$base/api/v1/tenant")
    [ "$code" = 200 ] || { echo "bench: $host answers $code" >&2; exit 1; }
done

for domain in localhost portal.acme.example; do
    code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$internal/internal/tls/ask?domain=$domain")
    [ "$code" = 200 ] || { echo "bench: the TLS ask for $domain answers $code" >&2; exit 1; }
done
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$internal/internal/tls/ask?domain=nobody.example")
[ "$code" = 404 ] || { echo "bench: the TLS ask for an unknown name answers $code" >&2; exit 1; }

median() { printf '%s\n' "$@" | sort -g | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }
rps() { wrk -t2 -c"$connections" -d"${duration}s" "$@" | awk '/Requests\/sec/ {print $2}'; }

declare -A got
for k in subdomain custom ask_floor ask; do got[$k]=""; done
rps -d3s -H "Host: acme.localhost" -H "$no_redirect" "$base/api/v1/tenant" >/dev/null # warm-up
for r in $(seq 1 "$rounds"); do
    # Each round starts with the other host.
    if (( r % 2 )); then order="subdomain custom"; else order="custom subdomain"; fi
    for mode in $order; do
        host=acme.localhost
        [ "$mode" = custom ] && host=portal.acme.example
        got[$mode]+=" $(rps -H "Host: $host" -H "$no_redirect" "$base/api/v1/tenant")"
    done
    # The TLS ask and its floor, in alternating order too (the first run after the API's
    # load pays for what that load left behind).
    if (( r % 2 )); then order="ask_floor ask"; else order="ask ask_floor"; fi
    for mode in $order; do
        domain=localhost
        [ "$mode" = ask ] && domain=portal.acme.example
        got[$mode]+=" $(rps "http://127.0.0.1:$internal/internal/tls/ask?domain=$domain")"
    done
    echo "bench: round $r: subdomain ${got[subdomain]##* }, custom ${got[custom]##* }, ask ${got[ask]##* } (floor ${got[ask_floor]##* })" >&2
done

sub=$(median ${got[subdomain]}); custom=$(median ${got[custom]})
floor=$(median ${got[ask_floor]}); ask=$(median ${got[ask]})
echo "resolution, GET /api/v1/tenant ($connections connections, $rounds rounds of ${duration}s, medians):"
awk -v s="$sub" -v c="$custom" 'BEGIN {printf "  by subdomain      %9.0f req/s\n  by custom domain  %9.0f req/s  (%+.1f %% against the subdomain)\n", s, c, (c / s - 1) * 100}'
echo "TLS ask, one worker:"
awk -v f="$floor" -v a="$ask" 'BEGIN {printf "  the platform host %9.0f req/s  (no lookup: the floor)\n  a custom domain   %9.0f req/s  (%.1f %% of the floor; target >= 20,000/s)\n", f, a, a / f * 100}'
