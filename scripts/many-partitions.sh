#!/usr/bin/env bash
# Thousands of partitions on one SPU (BENCHMARKS.md, issue #23 item 2): topic creation time,
# the daemon's RSS, threads and open files, the SC's metadata sent to a new client, and the
# produce rate, on a fresh all-in-one daemon.
#
# Usage: scripts/many-partitions.sh [PARTITIONS_PER_TOPIC] [TOPICS]   (default 5000 2)
# Binaries from $BIN (default target/release). Prints one line per step.
set -euo pipefail
PER_TOPIC=${1:-5000}
TOPICS=${2:-2}
BIN=${BIN:-target/release}
HERE=$(cd "$(dirname "$0")" && pwd)
WORK=$(mktemp -d)
BASE=$((20000 + RANDOM % 20000))
SC=127.0.0.1:$BASE
PROXY_PORT=$((BASE + 4))
"$BIN/fluvio-daemon" --data-dir "$WORK/data" --no-metrics --no-kafka \
  --sc-public-addr "$SC" --sc-private-addr 127.0.0.1:$((BASE + 1)) \
  --spu-public-addr 127.0.0.1:$((BASE + 2)) --spu-private-addr 127.0.0.1:$((BASE + 3)) \
  >"$WORK/daemon.log" 2>&1 &
DAEMON=$!
PROXY=
cleanup() {
  kill "$DAEMON" 2>/dev/null || true
  [ -n "$PROXY" ] && kill "$PROXY" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
for _ in $(seq 100); do
  "$BIN/fluvio" --sc "$SC" topic list >/dev/null 2>&1 && break
  sleep 0.2
done

state() {
  local rss threads fds
  rss=$(awk '/VmRSS/ {printf "%.1f MB", $2 / 1024}' "/proc/$DAEMON/status")
  threads=$(awk '/Threads/ {print $2}' "/proc/$DAEMON/status")
  fds=$(ls "/proc/$DAEMON/fd" | wc -l)
  echo "$1: daemon RSS $rss, threads $threads, open files $fds (load: $(cut -d' ' -f1-3 /proc/loadavg))"
}
# The figures of a benchmark's JSON: throughput, ratio to loopback, time to a ready topic.
figures() {
  python3 -c 'import json,sys; d=json.load(sys.stdin); print("%.1f MB/s, %.2fx loopback, topic ready in %.2f s" % (d["throughput"]["mb_per_s"], d["ratio_to_loopback"], d.get("topic_ready_secs") or 0))'
}
bench() {
  "$BIN/fluvio" --sc "$SC" benchmark produce --records 400000 --record-size 1024 \
    --latency-secs 0 -O json "$@" | figures
}

state "idle"
echo "1 partition: $(bench --partitions 1)"
state "after 1 partition"
for t in $(seq "$TOPICS"); do
  echo "topic $t of $PER_TOPIC partitions: $(bench --partitions "$PER_TOPIC" --keep-topic)"
  state "$((t * PER_TOPIC)) partitions"
done
echo "1 partition, after: $(bench --partitions 1)"

# What the SC sends a new client: a consumer of the last partition of a kept topic reads
# its metadata (topics, partitions, SPUs) through a proxy that counts the SC's bytes.
python3 "$HERE/count-proxy.py" "$PROXY_PORT" "$SC" "$WORK/counted" &
PROXY=$!
for _ in $(seq 50); do
  (exec 3<>/dev/tcp/127.0.0.1/$PROXY_PORT) 2>/dev/null && break
  sleep 0.1
done
TOPIC=$("$BIN/fluvio" --sc "$SC" topic list -O json | python3 -c 'import json,sys; print(sorted(t["name"] for t in json.load(sys.stdin) if t["name"].startswith("benchmark"))[0])')
rm -f "$WORK/counted"
"$BIN/fluvio" --sc 127.0.0.1:$PROXY_PORT consume "$TOPIC" -p $((PER_TOPIC - 1)) -B -d >/dev/null
sleep 0.5
echo "SC bytes sent to a new consumer (and received from it): $(cat "$WORK/counted")"
"$BIN/fluvio" --sc 127.0.0.1:$PROXY_PORT topic list >/dev/null
sleep 0.5
echo "SC bytes after a topic list too (cumulative): $(cat "$WORK/counted")"
