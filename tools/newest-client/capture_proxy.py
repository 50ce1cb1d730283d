#!/usr/bin/env python3
"""Logging proxy in front of a Fluvio SC and one SPU.

Usage: capture_proxy.py SC_LISTEN SC_TARGET SPU_LISTEN SPU_TARGET LOG

Every frame in both directions goes to LOG as hex, in the capture format the protocol tests
read (protocol/tests/wire/common.rs). The SPU's advertised public port is rewritten in the
SC's answers (same length, so frames keep their size) so that the client reaches the SPU
through the proxy too."""
import asyncio
import binascii
import struct
import sys
import time

SC_LISTEN, SC_TARGET, SPU_LISTEN, SPU_TARGET, LOG = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
START = time.time()
log = open(LOG, "w")
log.write(f"   0.000 proxy SC {SC_LISTEN}->{SC_TARGET} SPU {SPU_LISTEN}->{SPU_TARGET}: the fluvio crate 0.50.1 against fluvio-daemon\n")
NEEDLE = struct.pack(">H", SPU_TARGET) + b"\x00\x00\x00\x01\x01\x00\x09127.0.0.1"
REPL = struct.pack(">H", SPU_LISTEN) + b"\x00\x00\x00\x01\x01\x00\x09127.0.0.1"

def w(line):
    log.write(f"{time.time()-START:8.3f} {line}\n"); log.flush()

async def read_frame(r):
    head = await r.readexactly(4)
    size = struct.unpack(">i", head)[0]
    return head + await r.readexactly(size)

async def pump(role, peer, r, wr, is_request):
    try:
        while True:
            f = await read_frame(r)
            if is_request:
                key, ver, corr = struct.unpack(">hhi", f[4:12])
                w(f"{role:<3} <- {peer} api_key={key} api_version={ver} corr={corr} len={len(f)-4}")
            else:
                if role == "SC":
                    f = f.replace(NEEDLE, REPL)
                corr = struct.unpack(">i", f[4:8])[0]
                w(f"{role:<3} -> {peer} corr={corr} len={len(f)-4}")
            log.write("   HEX " + binascii.hexlify(f).decode() + "\n")
            wr.write(f); await wr.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        wr.close()

def handler(role, target):
    async def h(cr, cw):
        peer = repr(tuple(cw.get_extra_info("peername")[:2]))
        w(f"{role:<3} accepted {peer}")
        sr, sw = await asyncio.open_connection("127.0.0.1", target)
        await asyncio.gather(pump(role, peer, cr, sw, True), pump(role, peer, sr, cw, False))
    return h

async def main():
    a = await asyncio.start_server(handler("SC", SC_TARGET), "127.0.0.1", SC_LISTEN)
    b = await asyncio.start_server(handler("SPU", SPU_TARGET), "127.0.0.1", SPU_LISTEN)
    await asyncio.gather(a.serve_forever(), b.serve_forever())

asyncio.run(main())
