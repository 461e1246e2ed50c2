# Tenantry tasks. `just --list` shows them.

# Serve on 127.0.0.1:8080 with SQLite in ./data
run *args:
    cargo run --release -- {{args}}

# The test suite (SQLite; PostgreSQL too when TENANTRY_TEST_PG_URL is set)
test:
    cargo test --workspace

# The test suite on SQLite and a local PostgreSQL (started, and installed if missing)
test-pg:
    #!/usr/bin/env bash
    set -euo pipefail
    eval "$(scripts/pg-test-cluster)"
    cargo test --workspace

# clippy with warnings denied, and the rustfmt check
lint:
    cargo clippy --workspace --all-targets -- -D warnings
    cargo fmt --all -- --check

# Regenerate the checked-in OpenAPI document
openapi:
    cargo run --quiet -p tenantry -- openapi > openapi/openapi.json

# What CI runs
ci:
    bash .ci/run

# Every benchmark below, one after the other, then issue 17's table of cases against their floors
bench: bench-products bench-spread bench-jobs bench-webhooks bench-billing bench-edge bench-files bench-archive bench-provision
    bash bench/table.sh

# Benchmark: 10 tenants × 100,000 products against 10,000 × 100 with requests spread over
# 1,000 tenants (a token each), and one instance against two behind PgBouncer
bench-spread:
    bash bench/spread.sh

# Benchmark: archives — a tenant of 1,000,000 products exported and imported on SQLite and
# PostgreSQL: peak memory over start-up, time beside the database's own JSON dump
bench-archive:
    bash bench/archive.sh

# Benchmark: bulk provisioning from CSV (2,000 tenants in one transaction), tenants/s
bench-provision:
    bash bench/provision.sh

# Benchmark: files — a 256 MiB upload and download to local disk and to S3 (moto), beside
# cat and boto3 on the same bytes, and the server's peak memory meanwhile
bench-files:
    bash bench/files.sh

# Benchmark: the tenant's edge — resolution by custom domain vs subdomain, the TLS ask
bench-edge:
    bash bench/edge.sh

# Benchmark: products on PostgreSQL (100 tenants × 10,000) against the pgbench floors, and the
# same routes on SQLite beside it (release build, loopback; installs wrk and PostgreSQL if missing)
bench-products:
    bash bench/products.sh

# The service's instructions per list and get request under callgrind: repeatable on a noisy
# machine, so two builds compare (`just bench-instructions old-binary new-binary`)
bench-instructions *binaries:
    bash bench/instructions.sh {{binaries}}

# A quick look after a change: the products cases on small data, a few seconds each
bench-smoke:
    BENCH_TENANTS=3 BENCH_PRODUCTS=1000 BENCH_SECONDS=2 BENCH_ROUNDS=1 bash bench/products.sh
    BENCH_SPREAD_ROWS=20000 BENCH_MANY_TENANTS=200 BENCH_SPREAD=50 BENCH_SECONDS=2 BENCH_ROUNDS=1 bash bench/spread.sh
    bash bench/table.sh

# Benchmark: the job queue (latency, throughput) on PostgreSQL and SQLite, and POST
# /api/v1/products before and after the outbox
bench-jobs:
    bash bench/jobs.sh

# Benchmark: webhook fan-out (deliveries/s, memory), event→delivery latency and the fan-out's
# price on writes, on PostgreSQL and SQLite, beside the receiver's own capacity
bench-webhooks:
    bash bench/webhooks.sh

# Benchmark: logins, and a cached tenant route during a login storm (SQLite by default)
bench-auth:
    bash bench/auth.sh

# Regenerate the OpenAPI document and the TypeScript SDK's types from it
sdk: openapi
    cd clients/typescript && npm ci --no-audit --no-fund && npm run generate

# The SDK's checks and its walkthrough against a live server (SQLite; PostgreSQL when configured)
sdk-check:
    cargo build -p tenantry
    scripts/sdk-check

# The OpenAPI fuzzer (Schemathesis) against live servers (SQLite; PostgreSQL when configured)
fuzz:
    cargo build -p tenantry
    scripts/fuzz-api

# Benchmark: request limits (off, in-process, Redis) on reads and creates, usage ingestion
# and a million-event aggregation on PostgreSQL, each against its floor
bench-billing:
    bash bench/billing.sh
