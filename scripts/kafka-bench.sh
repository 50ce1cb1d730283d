#!/usr/bin/env bash
# The Kafka listener's throughput next to our own protocol's, in the same run against the
# same all-in-one daemon: `confluent-kafka` (librdkafka) producing RECORDS records of
# RECORD_SIZE bytes to the Kafka port and consuming them back, then `fluvio benchmark
# produce` and `fluvio benchmark consume` with the same records; ROUNDS rounds,
# alternating which goes first; prints each round and the medians.
#
#   scripts/kafka-bench.sh [ROUNDS] [RECORDS] [RECORD_SIZE]
#
# Uses the binaries in target/debug (build them with `cargo build --bins`), or
# $FLUVIO_BIN_DIR, and a python with confluent-kafka: $PYTHON, else the tests' virtualenv
# (target/py-fluvio, made by the integration tests). Ports 29300-29309 on 127.0.0.1 must
# be free.
set -euo pipefail

rounds=${1:-3}
records=${2:-100000}
record_size=${3:-1024}
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${FLUVIO_BIN_DIR:-$root/target/debug}
python=${PYTHON:-$root/target/py-fluvio/bin/python}
"$python" -c 'import confluent_kafka' 2>/dev/null || {
    echo "no confluent-kafka in $python: pip install confluent-kafka==2.16.1, or set PYTHON" >&2
    exit 1
}
work=$(mktemp -d)
pid=
cleanup() {
    if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

"$bin/fluvio-daemon" --data-dir "$work/data" --no-metrics \
    --sc-public-addr 127.0.0.1:29300 --sc-private-addr 127.0.0.1:29301 \
    --spu-public-addr 127.0.0.1:29302 --spu-private-addr 127.0.0.1:29303 \
    --kafka-addr 127.0.0.1:29309 2>"$work/daemon.log" &
pid=$!
for _ in $(seq 100); do
    grep -q "fluvio-daemon ready" "$work/daemon.log" 2>/dev/null && break
    sleep 0.1
done
grep -q "fluvio-daemon ready" "$work/daemon.log" || { cat "$work/daemon.log" >&2; exit 1; }

cat >"$work/ck.py" <<'PY'
# confluent-kafka produces and consumes one partition; prints MB/s of each.
import sys, time
from confluent_kafka import Producer, Consumer, TopicPartition, OFFSET_BEGINNING
from confluent_kafka.admin import AdminClient, NewTopic
broker, topic, n, size = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
admin = AdminClient({"bootstrap.servers": broker})
for f in admin.create_topics([NewTopic(topic, 1, 1)]).values():
    f.result()
value = b"x" * size
p = Producer({"bootstrap.servers": broker, "acks": 1, "linger.ms": 5})
start = time.time()
for i in range(n):
    while True:
        try:
            p.produce(topic, value=value, partition=0)
            break
        except BufferError:
            p.poll(0.01)
assert p.flush(60) == 0, "records left unacknowledged"
produce = n * size / (time.time() - start) / 1e6
c = Consumer({"bootstrap.servers": broker, "group.id": "kafka-bench", "enable.auto.commit": False,
              "fetch.max.bytes": 52428800})
c.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
got, start = 0, time.time()
while got < n:
    for m in c.consume(10000, 10):
        assert not m.error(), m.error()
        got += 1
consume = n * size / (time.time() - start) / 1e6
c.close()
admin.delete_topics([topic])[topic].result()
print(f"{produce:.1f} {consume:.1f}")
PY

kafka() { # round
    "$python" "$work/ck.py" 127.0.0.1:29309 "kafka-bench-$1" "$records" "$record_size"
}
fluvio_mb() { # produce|consume
    "$bin/fluvio" benchmark "$1" --sc 127.0.0.1:29300 --records "$records" \
        --record-size "$record_size" --latency-secs 0 -O json |
        python3 -c 'import json,sys; print("%.1f" % json.load(sys.stdin)["throughput"]["mb_per_s"])'
}

echo "round  kafka-produce  kafka-consume  fluvio-produce  fluvio-consume   (MB/s)"
kp=(); kc=(); fp=(); fc=()
for round in $(seq "$rounds"); do
    if ((round % 2)); then
        read -r p c < <(kafka "$round"); f1=$(fluvio_mb produce); f2=$(fluvio_mb consume)
    else
        f1=$(fluvio_mb produce); f2=$(fluvio_mb consume); read -r p c < <(kafka "$round")
    fi
    kp+=("$p"); kc+=("$c"); fp+=("$f1"); fc+=("$f2")
    printf "%5d  %13s  %13s  %14s  %14s\n" "$round" "$p" "$c" "$f1" "$f2"
done
median() { printf "%s\n" "$@" | sort -n | python3 -c 'import sys; v=[float(l) for l in sys.stdin]; print(v[len(v)//2])'; }
printf "median %13s  %13s  %14s  %14s   (%s records of %s bytes, %s rounds)\n" \
    "$(median "${kp[@]}")" "$(median "${kc[@]}")" "$(median "${fp[@]}")" "$(median "${fc[@]}")" \
    "$records" "$record_size" "$rounds"
