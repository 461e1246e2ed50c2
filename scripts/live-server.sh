# Sourced by CI steps that talk to a running Tenantry (the SDK walkthrough, the fuzzer, the
# browser check). `start_tenantry sqlite|postgres PORT` starts target/debug/tenantry on
# 127.0.0.1:PORT with a fresh database and data directory, waits until it is ready and sets
# LIVE_URL, LIVE_DIR (mail lands in $LIVE_DIR/mail) and LIVE_OPERATOR_TOKEN;
# `stop_tenantry` stops it (SIGTERM) and shows its log if it had failed. Extra settings go in
# the array LIVE_ENV (NAME=value each). PostgreSQL needs
# TENANTRY_TEST_PG_URL and TENANTRY_TEST_PG_SERVICE_URL (scripts/pg-test-cluster).

LIVE_OPERATOR_TOKEN=ci-operator-token-0123456789abcdef

start_tenantry() {
    local backend=$1 port=$2
    LIVE_DIR=$(mktemp -d)
    LIVE_URL=http://127.0.0.1:$port
    local env=(TENANTRY_BIND=127.0.0.1:$port TENANTRY_INTERNAL_BIND=off TENANTRY_LOG=warn TENANTRY_MAIL_DIR=$LIVE_DIR/mail
        TENANTRY_OPERATOR_TOKEN=$LIVE_OPERATOR_TOKEN TENANTRY_JOB_RETRY_BASE_MS=200 TENANTRY_RATE_LIMITS=off ${LIVE_ENV[@]+"${LIVE_ENV[@]}"})
    case $backend in
        sqlite) env+=(TENANTRY_DATABASE_URL=sqlite://$LIVE_DIR/tenantry.db) ;;
        postgres)
            local db=tenantry_live_$port
            psql "$TENANTRY_TEST_PG_URL" -v ON_ERROR_STOP=1 -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" \
                -c "CREATE DATABASE $db OWNER tenantry_owner" >&2
            env+=(TENANTRY_DATABASE_URL=${TENANTRY_TEST_PG_SERVICE_URL%/*}/$db
                TENANTRY_MIGRATION_DATABASE_URL=${TENANTRY_TEST_PG_URL%/*}/$db)
            ;;
        *) echo "start_tenantry: unknown backend $backend" >&2; return 1 ;;
    esac
    env "${env[@]}" target/debug/tenantry serve >"$LIVE_DIR/server.log" 2>&1 &
    LIVE_PID=$!
    for _ in $(seq 1 100); do
        curl -sf "$LIVE_URL/readyz" >/dev/null && return 0
        kill -0 "$LIVE_PID" 2>/dev/null || break
        sleep 0.2
    done
    echo "start_tenantry: $backend server did not become ready" >&2
    cat "$LIVE_DIR/server.log" >&2
    return 1
}

stop_tenantry() {
    [ -n "${LIVE_PID:-}" ] || return 0
    kill "$LIVE_PID" 2>/dev/null || true
    wait "$LIVE_PID" 2>/dev/null || true
    if grep -qiE "panicked|ERROR" "$LIVE_DIR/server.log"; then
        echo "-- server log ($LIVE_DIR/server.log):" >&2
        tail -n 50 "$LIVE_DIR/server.log" >&2
    fi
    rm -rf "$LIVE_DIR"
    LIVE_PID=
}
