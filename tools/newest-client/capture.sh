#!/usr/bin/env bash
# Capture the newest official Rust client (the `fluvio` crate 0.50.1) talking to our daemon,
# frame by frame, into protocol/tests/data/newest-client/. Needs the workspace's binaries
# (`cargo build --workspace --bins --examples`) and python3.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=${1:-$root/protocol/tests/data/newest-client/fluvio-rust-0.50.1.log}
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

(cd "$here" && cargo build --quiet)
"$root/target/debug/fluvio-daemon" --data-dir "$work/data" \
    --sc-public-addr 127.0.0.1:19003 --sc-private-addr 127.0.0.1:19004 \
    --spu-public-addr 127.0.0.1:19005 --spu-private-addr 127.0.0.1:19006 >"$work/daemon.log" 2>&1 &
# The proxy listens on 29003 (SC) and 29005 (SPU) and rewrites the SPU's advertised port so
# the client comes back through it.
python3 "$here/capture_proxy.py" 29003 19003 29005 19005 "$out" &
sleep 3
"$here/target/debug/newest-client" 127.0.0.1:29003 newest "${PHASES:-admin,grow,produce,consume,smartmodule,offsets}"
sleep 1
echo "capture written to $out"
