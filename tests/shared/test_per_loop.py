"""SDK clients kept per event loop: reused on one loop, never shared across loops, closed per loop."""

import asyncio

from shared.per_loop import PerLoop


class Client:
    def __init__(self) -> None:
        self.closed = False

    async def close(self) -> None:
        self.closed = True


def test_one_object_per_key_per_loop_closed_with_its_loop() -> None:
    cache: PerLoop[Client] = PerLoop()

    async def use() -> tuple[Client, Client, Client]:
        first, again, other = cache.get("a", Client), cache.get("a", Client), cache.get("b", Client)
        await cache.close_all()
        return first, again, other

    first, again, other = asyncio.run(use())
    assert first is again and first is not other
    assert first.closed and other.closed
    second, _, _ = asyncio.run(use())  # another loop: built anew
    assert second is not first
