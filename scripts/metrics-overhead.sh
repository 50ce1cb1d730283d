#!/usr/bin/env bash
# What metrics cost: `fluvio benchmark produce` against two all-in-one daemons in the same
# run, one counting and serving /metrics (scraped once a second during the run, as
# Prometheus would, only faster) and one with --no-metrics, in alternating rounds; prints
# each round's throughput and the median ratio on/off (target: >= 0.95), and the CPU time
# each daemon spent per record over all rounds (steadier than throughput on a busy
# machine, where neighbours' load swings single rounds by a third).
#
#   scripts/metrics-overhead.sh [ROUNDS] [RECORDS] [RECORD_SIZE]
#
# Uses the binaries in target/debug (build them with `cargo build --bins`), or
# $FLUVIO_BIN_DIR. Ports 29200-29299 on 127.0.0.1 must be free.
set -euo pipefail

rounds=${1:-7}
records=${2:-200000}
record_size=${3:-1024}
bin=${FLUVIO_BIN_DIR:-$(cd "$(dirname "$0")/.." && pwd)/target/debug}
work=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

start() { # name base-port extra-flags...
    local name=$1 base=$2
    shift 2
    "$bin/fluvio-daemon" --data-dir "$work/$name" \
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

start on 29200 --metrics-addr 127.0.0.1:29290
start off 29210 --no-metrics

# A scraper for the daemon with metrics, as Prometheus would run.
(while true; do curl -s -o /dev/null http://127.0.0.1:29290/metrics || true; sleep 1; done) &
pids+=($!)

throughput() { # base-port
    "$bin/fluvio" benchmark produce --sc "127.0.0.1:$1" --records "$records" \
        --record-size "$record_size" --latency-secs 0 -O json |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["throughput"]["records_per_s"])'
}

cpu_ticks() { # pid: user + system clock ticks so far
    awk '{ sub(/.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"
}
on_pid=${pids[0]}
off_pid=${pids[1]}
on_cpu0=$(cpu_ticks "$on_pid")
off_cpu0=$(cpu_ticks "$off_pid")

ratios=()
echo "round  on(records/s)  off(records/s)  on/off"
for round in $(seq "$rounds"); do
    # Alternate which goes first, so warm-up and neighbours' noise fall on both.
    if ((round % 2)); then
        on=$(throughput 29200); off=$(throughput 29210)
    else
        off=$(throughput 29210); on=$(throughput 29200)
    fi
    ratio=$(python3 -c "print(f'{$on / $off:.3f}')")
    ratios+=("$ratio")
    printf "%5d  %13.0f  %14.0f  %s\n" "$round" "$on" "$off" "$ratio"
done
median=$(printf "%s\n" "${ratios[@]}" | sort -n | python3 -c 'import sys; v=[float(l) for l in sys.stdin]; print(f"{v[len(v)//2]:.3f}")')
echo "median on/off: $median ($rounds rounds of $records records of $record_size bytes)"
hz=$(getconf CLK_TCK)
on_cpu=$(($(cpu_ticks "$on_pid") - on_cpu0))
off_cpu=$(($(cpu_ticks "$off_pid") - off_cpu0))
python3 - "$on_cpu" "$off_cpu" "$hz" "$((rounds * records))" <<'PY'
import sys
on, off, hz, n = (int(a) for a in sys.argv[1:])
us = lambda ticks: ticks / hz / n * 1e6
print(f"daemon CPU per record: on {us(on):.2f} us, off {us(off):.2f} us; off/on {off / on:.3f}")
PY
