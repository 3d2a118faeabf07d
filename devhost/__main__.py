"""``python -m devhost [APP_ROOT] [--port 7071] [--settings local.settings.json] [--no-auth] [--dev-identity]``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys

from devhost.functions import FunctionLoadError
from devhost.local_settings import SettingsError, apply_values
from devhost.options import add_host_options, build_host, read_settings
from devhost.server import DevHost


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m devhost", description="Local host for a function.json app.")
    add_host_options(parser, port_help="port (default Host.LocalHttpPort, else 7071)")
    return parser.parse_args(argv)


async def serve(host: DevHost) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await host.start()
    print(f"Functions (dev host on {host.base_url}, keys {'enforced' if host.enforce_keys else 'NOT checked'}):")
    for line in host.describe():
        print(f"    {line}")
    print(f"Demo page: {host.base_url}/", flush=True)
    if host.identity_provider is not None:
        print(f"Development identity provider: {host.identity_provider.issuer}", flush=True)
    await stop.wait()
    await host.stop()


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("azure").setLevel(logging.WARNING)
    args = parse_args(argv)
    try:
        settings = read_settings(args)
        apply_values(settings.values)  # the app reads its settings from the environment, as on Azure
        host = build_host(args, settings)
    except (FunctionLoadError, SettingsError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(host))
    return 0


if __name__ == "__main__":
    sys.exit(main())
