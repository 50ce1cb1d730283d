#!/usr/bin/env bash
# What TLS costs: `fluvio benchmark produce` and `consume` against two all-in-one daemons in
# the same run, one with mutual TLS on every listener (certificates made here with openssl)
# and one plaintext, in alternating rounds; prints each round's throughput and the median
# ratio TLS/plaintext per benchmark (target: >= 0.7). Consumers over TLS lose the
# sendfile(2) path (ranges are read into memory and encrypted), so consume shows that too.
#
#   scripts/tls-overhead.sh [ROUNDS] [RECORDS] [RECORD_SIZE]
#
# Uses the binaries in target/release (build them with
# `cargo build --release -p console -p daemon --bins`), or $FLUVIO_BIN_DIR. Ports
# 29300-29399 on 127.0.0.1 must be free.
set -euo pipefail

rounds=${1:-5}
records=${2:-200000}
record_size=${3:-1024}
bin=${FLUVIO_BIN_DIR:-$(cd "$(dirname "$0")/.." && pwd)/target/release}
work=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

# A CA, a node certificate for 127.0.0.1 and a client certificate.
(
    cd "$work"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
        -subj "/CN=bench-ca" -keyout ca.key -out ca.crt 2>/dev/null
    printf 'subjectAltName = IP:127.0.0.1\nextendedKeyUsage = serverAuth, clientAuth\n' >node.ext
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=node" \
        -keyout node.key -out node.csr 2>/dev/null
    openssl x509 -req -in node.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 \
        -extfile node.ext -out node.crt 2>/dev/null
    printf 'extendedKeyUsage = clientAuth\n' >client.ext
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=bench" \
        -keyout client.key -out client.csr 2>/dev/null
    openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 \
        -extfile client.ext -out client.crt 2>/dev/null
)

start() { # name base-port extra-flags...
    local name=$1 base=$2
    shift 2
    "$bin/fluvio-daemon" --data-dir "$work/$name" --no-metrics \
        --sc-public-addr "127.0.0.1:$base" --sc-private-addr "127.0.0.1:$((base + 1))" \
        --spu-public-addr "127.0.0.1:$((base + 2))" --spu-private-addr "127.0.0.1:$((base + 3))" \
        "$@" 2>"$work/$name.log" &
    pids+=($!)
    for _ in $(seq 100); do
        grep -q "fluvio-daemon ready" "$work/$name.log" 2>/dev/null && return
        sleep 0.1
    done
    echo "daemon $name did not start:" >&2
    cat "$work/$name.log" >&2
    exit 1
}

start tls 29300 --tls-cert "$work/node.crt" --tls-key "$work/node.key" --tls-client-ca "$work/ca.crt"
start plain 29310

tls_flags=(--tls-ca-cert "$work/ca.crt" --tls-client-cert "$work/client.crt" --tls-client-key "$work/client.key")

throughput() { # produce|consume base-port [flags...]
    local kind=$1 port=$2
    shift 2
    "$bin/fluvio" benchmark "$kind" --sc "127.0.0.1:$port" "$@" --records "$records" \
        --record-size "$record_size" --latency-secs 0 -O json |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["throughput"]["mb_per_s"])'
}

median() { sort -n | python3 -c 'import sys; v=[float(l) for l in sys.stdin]; print(f"{v[len(v)//2]:.3f}")'; }

for kind in produce consume; do
    ratios=()
    echo "$kind: round  tls(MB/s)  plaintext(MB/s)  tls/plaintext"
    for round in $(seq "$rounds"); do
        # Alternate which goes first, so warm-up and neighbours' noise fall on both.
        if ((round % 2)); then
            tls=$(throughput "$kind" 29300 "${tls_flags[@]}"); plain=$(throughput "$kind" 29310)
        else
            plain=$(throughput "$kind" 29310); tls=$(throughput "$kind" 29300 "${tls_flags[@]}")
        fi
        ratio=$(python3 -c "print(f'{$tls / $plain:.3f}')")
        ratios+=("$ratio")
        printf "%s: %5d  %9.1f  %15.1f  %s\n" "$kind" "$round" "$tls" "$plain" "$ratio"
    done
    echo "$kind: median tls/plaintext $(printf "%s\n" "${ratios[@]}" | median) ($rounds rounds of $records records of $record_size bytes)"
done
