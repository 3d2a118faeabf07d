"""A local Azure Web PubSub emulator for development and tests (never deployed).

Start it with ``python -m emulator``, or in-process::

    async with Emulator(port=0) as emulator:
        client = WebPubSubServiceClient.from_connection_string(emulator.connection_string, hub="chat")
"""

from emulator.server import DEFAULT_ACCESS_KEY, DEFAULT_PORT, Emulator

__all__ = ["DEFAULT_ACCESS_KEY", "DEFAULT_PORT", "Emulator"]
