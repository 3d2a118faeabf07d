"""The options ``python -m devhost`` and ``python -m devhost.stack`` share, and the host they build.

Both read one settings file and serve one app folder; the stack adds the emulator, Azurite and
ports that settings follow. The host is built here once, so the two cannot differ in what a
flag means.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from devhost.local_settings import LocalSettings, read_local_settings
from devhost.server import DevHost


def add_host_options(parser: argparse.ArgumentParser, *, port_help: str) -> None:
    parser.add_argument("app_root", nargs="?", default=".", help="the function app folder (default .)")
    parser.add_argument("--port", type=int, default=None, help=port_help)
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--settings", default=None, help="settings file (default APP_ROOT/local.settings.json)")
    parser.add_argument("--no-auth", action="store_true", help="do not check function keys, as func start")
    parser.add_argument("--dev-identity", action="store_true", help="serve the development identity provider")


def read_settings(args: argparse.Namespace) -> LocalSettings:
    return read_local_settings(Path(args.settings) if args.settings else Path(args.app_root) / "local.settings.json")


def build_host(args: argparse.Namespace, settings: LocalSettings) -> DevHost:
    """The dev host the options ask for, its functions loaded (not started)."""
    host = DevHost(
        Path(args.app_root),
        settings,
        host=args.host,
        port=args.port,
        enforce_keys=not args.no_auth,
        dev_identity=args.dev_identity,
    )
    host.load()
    return host
