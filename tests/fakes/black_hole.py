"""A service that accepts connections, reads the request and never answers: the worst outage.

Unlike a refused connection, nothing fails fast; only the caller's own deadline ends the call.
"""

from __future__ import annotations

import asyncio

SILENT_SECONDS = 30


async def _swallow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.read(65536)
    await asyncio.sleep(SILENT_SECONDS)
    writer.close()


async def start_black_hole() -> asyncio.Server:
    """A listening server on a free loopback port; ``server.sockets[0]`` gives the port."""
    return await asyncio.start_server(_swallow, "127.0.0.1", 0)
