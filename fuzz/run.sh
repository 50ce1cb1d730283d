#!/usr/bin/env bash
# Run every fuzz target (or the ones named) for SECONDS each (default 600) and print the
# executions of each. Needs the nightly toolchain and cargo-fuzz:
#   rustup toolchain install nightly; cargo install cargo-fuzz
# Seeds come from the official client's captures (protocol/tests/data), exported into
# fuzz/corpus/<target> on the first run. Crashes land in fuzz/artifacts/<target>/.
#
#   fuzz/run.sh [SECONDS] [TARGET...]
#   SANITIZER=address fuzz/run.sh 60 sc_request     # default: none (panics only, faster)
set -euo pipefail

cd "$(dirname "$0")/.."
seconds="${1:-600}"
shift || true
targets=("$@")
if [ "${#targets[@]}" -eq 0 ]; then
    targets=(sc_request spu_request internal_request record_batch segment_recovery)
fi
sanitizer="${SANITIZER:-none}"

if [ ! -d fuzz/corpus ]; then
    cargo run -q -p protocol --example fuzz_seeds -- fuzz/corpus
fi

cd fuzz
cargo +nightly fuzz build --sanitizer "$sanitizer" --debug-assertions
mkdir -p logs
status=0
for target in "${targets[@]}"; do
    log="logs/$target.log"
    echo "== $target: ${seconds}s"
    if ! cargo +nightly fuzz run --sanitizer "$sanitizer" --debug-assertions "$target" \
        "corpus/$target" -- -max_total_time="$seconds" -print_final_stats=1 >"$log" 2>&1; then
        echo "$target: FAILED (see fuzz/$log and fuzz/artifacts/$target/)"
        status=1
    fi
    executions=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || true)
    echo "$target: ${executions:-?} executions in ${seconds}s"
done
exit "$status"
