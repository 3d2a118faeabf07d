"""The fan-out baseline: the smallest broadcast server, built on ``websockets.broadcast()``.

Subscribers connect to the WebSocket port; an aiohttp endpoint on the HTTP port takes
``POST /api/hubs/{hub}/:send`` and broadcasts the body to every subscriber, so both servers
are driven the same way. ``python -m bench.baseline_server WS_PORT HTTP_PORT``.
"""

from __future__ import annotations

import asyncio
import signal
import sys

import websockets
from aiohttp import web


async def main(ws_port: int, http_port: int) -> None:
    clients: set[websockets.ServerConnection] = set()

    async def subscriber(connection: websockets.ServerConnection) -> None:
        clients.add(connection)
        try:
            await connection.wait_closed()
        finally:
            clients.discard(connection)

    async def send(request: web.Request) -> web.Response:
        body = await request.read()
        text = body.decode() if request.content_type != "application/octet-stream" else body
        websockets.broadcast(clients, text)
        return web.Response(status=202)

    app = web.Application()
    app.router.add_post("/api/hubs/{hub}/:send", send)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", http_port).start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with websockets.serve(subscriber, "127.0.0.1", ws_port, max_queue=None, compression=None):
        await stop.wait()
    await runner.cleanup()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), int(sys.argv[2])))
