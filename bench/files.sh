#!/usr/bin/env bash
# Files: a 256 MiB upload and download through the API, to local disk and to an S3 server
# (moto, the tests' server), each against a floor measured in the same run:
#  - local disk: the same bytes copied with cat into the same directory (upload) and read
#    back (download) — the disk and page cache Tenantry writes through;
#  - S3: the same bytes put and got with boto3 (the AWS SDK) against the same server — what
#    the server itself takes.
# Meanwhile the server's resident memory is sampled every 20 ms: the peak over idle is what
# streaming costs (target: <= 20 MB).
# Loopback only; needs Python with moto and boto3 (TENANTRY_TEST_PYTHON, else python3).
set -euo pipefail
source "$(dirname "$0")/common.sh"

cargo build --release -p tenantry >&2
python=${TENANTRY_TEST_PYTHON:-python3}
size_mib=${BENCH_FILE_MIB:-256}
port=18086
base="http://127.0.0.1:$port"
dir=$(mktemp -d)
pid=
moto=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; [ -n "$moto" ] && kill "$moto" 2>/dev/null; rm -rf "$dir"' EXIT

# Text (base64 of random bytes): a type tenants may store, and nothing compresses it.
head -c $((size_mib * 3 / 4 * 1024 * 1024)) /dev/urandom | base64 -w 0 > "$dir/big.txt"
bytes=$(stat -c %s "$dir/big.txt")

now() { date +%s.%N; }
mibps() { awk -v b="$bytes" -v s="$1" 'BEGIN { printf "%.0f", b / 1048576 / s }'; }

# Peak resident memory of $pid (KiB) while "$@" runs.
peak_rss() {
    local out=$1; shift
    ( peak=0; while kill -0 "$pid" 2>/dev/null; do
        r=$(awk '/VmRSS/ { print $2 }' /proc/"$pid"/status 2>/dev/null || echo 0)
        [ "${r:-0}" -gt "$peak" ] && peak=$r && echo "$peak" > "$out"
        sleep 0.02
      done ) >/dev/null 2>&1 &
    local sampler=$!
    "$@"
    kill "$sampler" 2>/dev/null; wait "$sampler" 2>/dev/null || true
}

start() {
    rm -f "$dir/tenantry.db"*
    env TENANTRY_DATABASE_URL="sqlite://$dir/tenantry.db" TENANTRY_BIND=127.0.0.1:$port \
        TENANTRY_INTERNAL_BIND=off TENANTRY_LOG=warn TENANTRY_RATE_LIMITS=off \
        TENANTRY_MAIL_DIR="$dir/mail" TENANTRY_MASTER_KEY_FILE="$dir/master.key" \
        TENANTRY_OPERATOR_TOKEN=bench "$@" \
        target/release/tenantry serve >"$dir/serve.log" 2>&1 &
    pid=$!
    for _ in $(seq 1 100); do curl -sf "$base/readyz" >/dev/null && break; sleep 0.1; done
    curl -sf -H 'Content-Type: application/json' "$base/api/v1/onboard" -d '{
      "organisation_name": "Acme", "slug": "acme", "owner_email": "owner@acme.test",
      "owner_name": "Owner", "password": "correct horse battery"}' >/dev/null
    # The default plan takes files of 25 MiB: this one, 1 GiB.
    curl -sf -X PATCH -H 'Authorization: Bearer bench' -H 'Content-Type: application/json' \
        "$base/api/v1/platform/plans/starter" -d '{"features": {"audit_retention_days": 30,
        "custom_domains": false, "dedicated_storage": false, "ip_allowlist": false, "sso": false,
        "webhooks": false, "max_file_bytes": 1073741824}}' >/dev/null
    token=$(curl -sf -H 'Content-Type: application/json' "$base/api/v1/auth/login" \
        -d '{"email": "owner@acme.test", "password": "correct horse battery"}' \
        | sed -E 's/.*"access_token":"([^"]+)".*/\1/')
    sleep 1
    idle=$(awk '/VmRSS/ { print $2 }' /proc/"$pid"/status)
}

# Upload then download through the API; prints "<up s> <down s> <peak KiB over idle>".
through_api() {
    local t0 t1 t2 id
    t0=$(now)
    peak_rss "$dir/peak" curl -sf -H "Authorization: Bearer $token" -H 'X-Tenant-ID: acme' \
        -F "file=@$dir/big.txt" "$base/api/v1/files" -o "$dir/up.json"
    t1=$(now)
    id=$(sed -E 's/.*"id":"([^"]+)".*/\1/' "$dir/up.json")
    peak_rss "$dir/peak2" curl -sf -H "Authorization: Bearer $token" -H 'X-Tenant-ID: acme' \
        "$base/api/v1/files/$id/content" -o "$dir/down.txt"
    t2=$(now)
    cmp -s "$dir/big.txt" "$dir/down.txt" || { echo "bench: the download differs" >&2; exit 1; }
    rm -f "$dir/down.txt"
    local peak; peak=$(cat "$dir/peak" "$dir/peak2" | sort -n | tail -1)
    echo "$(awk -v a="$t0" -v b="$t1" 'BEGIN{print b-a}') $(awk -v a="$t1" -v b="$t2" 'BEGIN{print b-a}') $((peak - idle))"
}

report() {
    local what=$1 up=$2 down=$3 extra=$4 fup=$5 fdown=$6
    printf '%-6s upload   %5s MiB/s   floor %5s MiB/s   ratio %s\n' "$what" "$(mibps "$up")" \
        "$(mibps "$fup")" "$(awk -v a="$fup" -v b="$up" 'BEGIN { printf "%.2f", a / b }')"
    printf '%-6s download %5s MiB/s   floor %5s MiB/s   ratio %s\n' "$what" "$(mibps "$down")" \
        "$(mibps "$fdown")" "$(awk -v a="$fdown" -v b="$down" 'BEGIN { printf "%.2f", a / b }')"
    printf '%-6s peak RSS over idle: %d KiB (%.1f MB)\n' "$what" "$extra" "$(awk -v k="$extra" 'BEGIN{print k*1024/1e6}')"
}

echo "files: $size_mib MiB ($bytes bytes) through the API, SQLite, one tenant"

# Local disk.
start TENANTRY_FILES="$dir/files"
through_api > "$dir/result"
read -r up down extra < "$dir/result"
t0=$(now); cat "$dir/big.txt" > "$dir/files/floor-copy"; t1=$(now)
cat "$dir/files/floor-copy" > /dev/null; t2=$(now)
rm -f "$dir/files/floor-copy"
report local "$up" "$down" "$extra" "$(awk -v a="$t0" -v b="$t1" 'BEGIN{print b-a}')" \
    "$(awk -v a="$t1" -v b="$t2" 'BEGIN{print b-a}')"
kill "$pid"; wait "$pid" 2>/dev/null || true; pid=

# S3 (moto, IAM enforced).
s3port=18087
coproc MOTO { "$python" tests/support/s3_server.py "$s3port" bench-files; }
moto=$MOTO_PID
read -r creds <&"${MOTO[0]}"
key=$(echo "$creds" | sed -E 's/.*"access_key_id": "([^"]+)".*/\1/')
secret=$(echo "$creds" | sed -E 's/.*"secret_access_key": "([^"]+)".*/\1/')
start TENANTRY_FILES=s3://bench-files TENANTRY_FILES_S3_ENDPOINT="http://127.0.0.1:$s3port" \
    TENANTRY_FILES_S3_ACCESS_KEY_ID="$key" TENANTRY_FILES_S3_SECRET_ACCESS_KEY="$secret"
through_api > "$dir/result"
read -r up down extra < "$dir/result"
"$python" - "$s3port" "$key" "$secret" "$dir/big.txt" > "$dir/floor" <<'EOF'
import sys, time, boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
port, key, secret, path = sys.argv[1:]
s3 = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
                  aws_access_key_id=key, aws_secret_access_key=secret,
                  config=Config(s3={"addressing_style": "path"}))
# Parts of 5 MiB, two at a time: what Tenantry sends.
cfg = TransferConfig(multipart_chunksize=5 << 20, max_concurrency=2)
t0 = time.time(); s3.upload_file(path, "bench-files", "floor", Config=cfg); t1 = time.time()
s3.download_file("bench-files", "floor", path + ".floor", Config=cfg); t2 = time.time()
print(t1 - t0, t2 - t1)
EOF
read -r fup fdown < "$dir/floor"
rm -f "$dir/big.txt.floor"
report s3 "$up" "$down" "$extra" "$fup" "$fdown"
