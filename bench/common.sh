# Sourced by the benchmarks: run from the project root, with wrk installed when missing.
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if ! command -v wrk >/dev/null 2>&1; then
    echo "bench: installing wrk" >&2
    apt-get update -qq >&2 && apt-get install -y -qq wrk >&2
fi

# The end table (`just bench` prints it with bench/table.sh): one tab-separated row per case —
# case, req/s, p50 ms, p99 ms, floor, ratio, target, met, and the CPU time one request cost
# the service and the database. Empty fields print as "-".
results=${BENCH_RESULTS:-$PWD/target/bench/results.tsv}
mkdir -p "$(dirname "$results")"
record() { # case rps p50 p99 floor ratio target met [cpu]
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "$5" "$6" "$7" "$8" "${9:-}" \
        >>"$results"
}
# CPU time (user and system, in clock ticks) that processes and their reaped children used:
# a PostgreSQL backend that exits is counted in the postmaster's children's time.
ticks() { # pid...
    local p s=0
    for p in "$@"; do
        s=$((s + $(awk '{print $14 + $15 + $16 + $17}' "/proc/$p/stat" 2>/dev/null || echo 0)))
    done
    echo "$s"
}
# CPU time the whole machine spent, every core (user and system; idle and I/O wait not), in
# clock ticks: what the service, the database and the load generator used together.
machine_ticks() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8 + $9}' /proc/stat; }
# The CPU time one request cost, in µs: ticks used by `requests` requests.
per_request() { # ticks, requests
    awk -v t="$1" -v n="$2" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.0f", n ? t / hz / n * 1e6 : 0 }'
}
# wrk's latency ("850.00us", "3.55ms", "1.20s") in milliseconds.
to_ms() {
    awk -v v="$1" 'BEGIN { n = v + 0
        if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n = n; else if (v ~ /s$/) n *= 1000
        printf "%.2f", n }'
}
# "met" or "not met": whether $1 >= $2 (or $1 <= $2 with a third argument "max").
met() {
    awk -v a="$1" -v b="$2" -v m="${3:-min}" 'BEGIN {
        ok = (m == "max") ? (a + 0 <= b + 0) : (a + 0 >= b + 0); print ok ? "met" : "NOT MET" }'
}

# Starts a server's peak-memory mark (VmHWM) again once its resident memory has settled: what
# sign-up and loading freed is returned to the system within a second or two (jemalloc's decay),
# and a mark started before then would count it as the benchmark's own peak.
reset_peak() { # pid
    local before now
    sleep 2 # jemalloc's decay time is 1 s (decision 0049)
    now=$(awk '/^VmRSS:/ {print $2}' "/proc/$1/status")
    for _ in $(seq 1 20); do
        sleep 0.5
        before=$now now=$(awk '/^VmRSS:/ {print $2}' "/proc/$1/status")
        [ $((before - now)) -lt 256 ] && break # less than 256 kB returned in half a second
    done
    echo 5 >"/proc/$1/clear_refs"
}

# Loads `products per tenant` products into every tenant of the database at `owner url`, in
# SQL as the schema's owner (one tenant's scope at a time), then analyzes them.
load_products() { # owner url, products per tenant
    psql "$1" -v ON_ERROR_STOP=1 -q <<SQL
DO \$\$
DECLARE t record;
BEGIN
    FOR t IN SELECT id FROM tenants LOOP
        PERFORM set_config('app.tenant_id', t.id::text, true);
        INSERT INTO products (tenant_id, id, name, sku, description, price_minor, currency,
                              status, created_by, created_at, updated_at)
        SELECT t.id, gen_random_uuid(),
               'Product ' || n || ' ' || (ARRAY['kettle','lamp','desk','chair','mug','pan'])[1 + n % 6],
               'SKU-' || n,
               'A fine ' || (ARRAY['steel','oak','copper','glass'])[1 + n % 4] || ' item, number ' || n,
               (n * 37) % 100000, 'EUR',
               CASE WHEN n % 10 = 0 THEN 'archived' ELSE 'active' END,
               NULL, now() - (n || ' seconds')::interval, now()
        FROM generate_series(1, $2) AS n;
    END LOOP;
END
\$\$;
VACUUM ANALYZE products;
SQL
    # The load and the vacuum leave gigabytes of WAL and dirty pages: the checkpoint they
    # trigger would spread its writes over the next minutes, under the measurements (each
    # read may wait to evict a dirty page). Flushed now, before any case runs.
    psql "$1" -qc 'CHECKPOINT' ||
        echo "bench: cannot force a checkpoint (needs pg_checkpoint); one may run under the cases" >&2
}
