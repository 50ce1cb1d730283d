#!/usr/bin/env bash
# Consumers against the loopback (BENCHMARKS.md, issue #23 item 4): in each round
# `fluvio benchmark consume` (our consumer, with its loopback baseline measured in the same
# run) and the official Python client `fluvio==0.21.0` (scripts/python-consume.py) reading
# the same number of 1 KiB records of one partition from the beginning, on one fresh
# all-in-one daemon. The Python client's ratio is to the loopback of the same round.
#
# Usage: scripts/consume-compare.sh [ROUNDS] [RECORDS]   (default 5 400000)
# Binaries from $BIN (default target/release); Python from $PY (default target/py-fluvio).
set -euo pipefail
ROUNDS=${1:-5}
RECORDS=${2:-400000}
BIN=${BIN:-target/release}
PY=${PY:-target/py-fluvio/bin/python}
HERE=$(cd "$(dirname "$0")" && pwd)
WORK=$(mktemp -d)
BASE=$((20000 + RANDOM % 20000))
SC=127.0.0.1:$BASE
"$BIN/fluvio-daemon" --data-dir "$WORK/data" --no-metrics --no-kafka \
  --sc-public-addr "$SC" --sc-private-addr 127.0.0.1:$((BASE + 1)) \
  --spu-public-addr 127.0.0.1:$((BASE + 2)) --spu-private-addr 127.0.0.1:$((BASE + 3)) \
  >"$WORK/daemon.log" 2>&1 &
DAEMON=$!
trap 'kill $DAEMON 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$WORK"' EXIT
for _ in $(seq 100); do
  "$BIN/fluvio" --sc "$SC" topic list >/dev/null 2>&1 && break
  sleep 0.2
done
# The Python client's topic: written once, read every round.
TOPIC=$("$BIN/fluvio" --sc "$SC" benchmark produce --records "$RECORDS" --record-size 1024 \
  --latency-secs 0 --keep-topic -O json | python3 -c 'import json,sys; print(json.load(sys.stdin)["topic"])')
for round in $(seq "$ROUNDS"); do
  ours=$("$BIN/fluvio" --sc "$SC" benchmark consume --records "$RECORDS" --record-size 1024 \
    --latency-secs 0 -O json)
  python=$("$PY" "$HERE/python-consume.py" "$SC" "$TOPIC" "$RECORDS")
  OURS="$ours" PYTHON="$python" LOAD="$(cut -d' ' -f1-3 /proc/loadavg)" ROUND=$round python3 -c '
import json, os, re
d = json.loads(os.environ["OURS"])
loop = d["loopback_baseline"]["mb_per_s"]
py = float(re.search(r"([0-9.]+) MB/s", os.environ["PYTHON"]).group(1))
print("round %s (load %s): ours %.1f MB/s (%.2fx loopback), python %.1f MB/s (%.2fx loopback, %.2fx ours), loopback %.1f MB/s (samples %s)" % (
    os.environ["ROUND"], os.environ["LOAD"], d["throughput"]["mb_per_s"], d["ratio_to_loopback"],
    py, py / loop, py / d["throughput"]["mb_per_s"], loop,
    " ".join("%.0f" % s for s in d["loopback_samples_mb_per_s"])))'
done
