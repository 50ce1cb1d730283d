#!/usr/bin/env python3
"""A TCP proxy that counts the bytes a server sends to its clients (BENCHMARKS.md: the SC's
metadata sent to a new client).

Usage: python3 scripts/count-proxy.py LISTEN_PORT TARGET_HOST:PORT COUNT_FILE

Listens on 127.0.0.1:LISTEN_PORT, forwards every connection to TARGET, and after each
connection closes rewrites COUNT_FILE with one line: the bytes the server sent to clients
and the bytes clients sent to the server, over every connection so far.
"""
import asyncio
import sys

listen_port, target, count_file = int(sys.argv[1]), sys.argv[2], sys.argv[3]
host, port = target.rsplit(":", 1)
totals = {"down": 0, "up": 0}


async def pipe(reader, writer, key):
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            totals[key] += len(data)
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        writer.close()


async def serve(client_reader, client_writer):
    server_reader, server_writer = await asyncio.open_connection(host, int(port))
    await asyncio.gather(
        pipe(server_reader, client_writer, "down"),
        pipe(client_reader, server_writer, "up"),
    )
    with open(count_file, "w") as out:
        out.write(f"{totals['down']} {totals['up']}\n")


async def main():
    server = await asyncio.start_server(serve, "127.0.0.1", listen_port)
    async with server:
        await server.serve_forever()


asyncio.run(main())
