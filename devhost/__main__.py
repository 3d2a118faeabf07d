"""``python -m devhost [APP_ROOT] [--port 7071] [--settings local.settings.json] [--no-auth] [--dev-identity]``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from pathlib import Path

from devhost.functions import FunctionLoadError
from devhost.local_settings import SettingsError, apply_values, read_local_settings
from devhost.server import DevHost


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m devhost", description="Local host for a function.json app.")
    parser.add_argument("app_root", nargs="?", default=".", help="the function app folder (default .)")
    parser.add_argument("--port", type=int, help="port (default Host.LocalHttpPort, else 7071)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--settings", default=None, help="settings file (default APP_ROOT/local.settings.json)")
    parser.add_argument("--no-auth", action="store_true", help="do not check function keys, as func start")
    parser.add_argument("--dev-identity", action="store_true", help="serve the development identity provider")
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


def build_host(args: argparse.Namespace) -> DevHost:
    app_root = Path(args.app_root)
    settings = read_local_settings(Path(args.settings) if args.settings else app_root / "local.settings.json")
    apply_values(settings.values)
    host = DevHost(
        app_root,
        settings,
        host=args.host,
        port=args.port,
        enforce_keys=not args.no_auth,
        dev_identity=args.dev_identity,
    )
    host.load()
    return host


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("azure").setLevel(logging.WARNING)
    args = parse_args(argv)
    try:
        host = build_host(args)
    except (FunctionLoadError, SettingsError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(host))
    return 0


if __name__ == "__main__":
    sys.exit(main())
