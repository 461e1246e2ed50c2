# Sourced by the benchmarks: run from the project root, with wrk installed when missing.
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if ! command -v wrk >/dev/null 2>&1; then
    echo "bench: installing wrk" >&2
    apt-get update -qq >&2 && apt-get install -y -qq wrk >&2
fi
