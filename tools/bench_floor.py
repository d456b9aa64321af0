#!/usr/bin/env python3
"""The floor for any Python server: uvloop + hiredis and no work at all.

tools/bench runs this beside valkeyd and valkey-server. It parses each request with hiredis
and answers with a constant of the right shape, so its throughput is the most that a server
on the same event loop and parser can reach on this machine, before doing anything a real
command needs (lookup, checks, stats, the keyspace). Not part of valkeyd.

Usage: tools/bench_floor.py PORT
"""
import asyncio
import sys

import hiredis

try:
    import uvloop
except ImportError:   # pragma: no cover - valkeyd uses the same fallback
    uvloop = None

REPLIES = {b"SET": b"+OK\r\n", b"MSET": b"+OK\r\n", b"INCR": b":1\r\n",
           b"GET": b"$3\r\nxxx\r\n", b"PING": b"+PONG\r\n", b"LPUSH": b":1\r\n",
           b"RPOP": b"$3\r\nxxx\r\n", b"SADD": b":1\r\n", b"HSET": b":1\r\n",
           b"ZADD": b":1\r\n", b"LRANGE": b"*100\r\n" + b"$3\r\nxxx\r\n" * 100}
OTHER = b"*0\r\n"   # CONFIG GET and the like, asked by the benchmark tool at start


class Floor(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport = transport
        self.reader = hiredis.Reader()

    def data_received(self, data):
        if data[:1] != b"*":   # an inline command: only tools/bench's readiness PING
            self.transport.write(b"+PONG\r\n")
            return
        self.reader.feed(data)
        out = []
        while True:
            req = self.reader.gets()
            if req is False:
                break
            out.append(REPLIES.get(req[0].upper() if type(req) is list else b"PING", OTHER))
        self.transport.write(b"".join(out))


async def main(port: int) -> None:
    server = await asyncio.get_running_loop().create_server(Floor, "127.0.0.1", port)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    if uvloop is not None:
        uvloop.install()
    asyncio.run(main(int(sys.argv[1])))
