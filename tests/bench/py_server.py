"""py_server: the Python `websockets` peer of `make bench` (Debian python3-websockets 10).

Same endpoints as wscluster-node's benchmark paths:
  WS /echo  each message back to its sender (same type)
  WS /ws    each message to every /ws client, sender included (websockets.broadcast)
usage: /usr/bin/python3 tests/bench/py_server.py PORT   (0 = any free port)
prints "listening ws://127.0.0.1:PORT" once ready; SIGINT/SIGTERM stop it.
"""
import asyncio
import signal
import sys

import websockets

CHAT = set()


async def handler(ws, path=None):
    p = (path if path is not None else ws.path).split("?")[0]
    if p == "/ws":
        CHAT.add(ws)
        try:
            async for m in ws:
                if hasattr(websockets, "broadcast"):
                    websockets.broadcast(CHAT, m)
                else:  # websockets < 10
                    for c in list(CHAT):
                        asyncio.ensure_future(c.send(m))
        except websockets.ConnectionClosed:
            pass
        finally:
            CHAT.discard(ws)
    elif p == "/echo":
        try:
            async for m in ws:
                await ws.send(m)
        except websockets.ConnectionClosed:
            pass
    else:
        await ws.close(1008, "unknown path")


async def main():
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    stop = asyncio.get_running_loop().create_future()
    for s in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(s, lambda: stop.done() or stop.set_result(None))
    # no compression (the other servers have none), no server pings (idle clients stay),
    # a backlog that takes thousands of connects
    async with websockets.serve(handler, "127.0.0.1", port, compression=None, ping_interval=None,
                                max_size=16 * 1024 * 1024, backlog=1024) as server:
        real = server.sockets[0].getsockname()[1]
        print(f"listening ws://127.0.0.1:{real}", flush=True)
        await stop


if __name__ == "__main__":
    asyncio.run(main())
