#!/usr/bin/env python3
"""The official Python client (fluvio==0.21.0) reads N records of a topic's partition 0 from
the beginning and prints its rate, for BENCHMARKS.md (issue #23 item 4).

Usage: target/py-fluvio/bin/python scripts/python-consume.py SC_ADDR TOPIC N
"""
import sys, time
from fluvio import Fluvio, FluvioConfig, Offset
addr, topic, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
fluvio = Fluvio.connect_with_config(FluvioConfig.new(addr))
consumer = fluvio.partition_consumer(topic, 0)
stream = consumer.stream(Offset.beginning())
got = 0; nbytes = 0
start = time.perf_counter()
for rec in stream:
    got += 1
    # value() builds a Python list of ints (slow); the size is taken once, from the first.
    if got == 1:
        size = len(rec.value())
    nbytes += size
    if got >= n:
        break
secs = time.perf_counter() - start
print(f"python consume: {got} records, {nbytes} bytes in {secs:.3f} s: {nbytes/secs/1e6:.1f} MB/s, {got/secs:.0f} records/s")
