"""From command-line options to a loaded :class:`~devhost.server.DevHost`: read
``local.settings.json``, copy its ``Values`` into the environment, load the app.

``python -m devhost`` and ``python -m devhost.stack`` both start the dev host this way.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from devhost.local_settings import apply_values, read_local_settings
from devhost.server import DevHost


def build_host(args: argparse.Namespace) -> DevHost:
    """Raises :class:`~devhost.functions.FunctionLoadError` or :class:`~devhost.local_settings.SettingsError`."""
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
