"""``make run``: the emulator and the dev host together, in one process, stopped by Ctrl-C.

Settings come from ``local.settings.json`` (copied from the example by ``make run``), read as the
app reads them (:mod:`devhost.web_pubsub`): a ``WebPubSubConnectionString`` for this machine, or
none at all, means the emulator, started on the string's port with the string's key; a real
resource (a connection string for another host, or ``WebPubSubEndpoint`` alone) means no emulator.

Started on other ports (``--port``, ``--emulator-port``; ``make run PORT=7072 EMULATOR_PORT=8081``),
the stack moves the settings that point at it to the ports it really uses, for this run only
(:mod:`devhost.ports`). The banner says which service and credential the app uses, each setting
it moved, and, one line each, every setting that still points where the stack started nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import logging
import os
import signal
import sys
from dataclasses import dataclass
from pathlib import Path

from devhost.functions import FunctionLoadError
from devhost.identity import PATH as IDENTITY_PATH
from devhost.local_settings import LocalSettings, SettingsError, apply_values, read_local_settings
from devhost.ports import Move, follow, loopback_origins, strays
from devhost.server import DevHost
from devhost.web_pubsub import CONNECTION_STRING, ENDPOINT, ServiceChoice, choose_service
from emulator import DEFAULT_ACCESS_KEY, Emulator
from emulator import DEFAULT_PORT as EMULATOR_PORT


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m devhost.stack", description="Emulator + dev host.")
    parser.add_argument("app_root", nargs="?", default=".")
    parser.add_argument(
        "--port", type=int, default=None, help="dev host port (default Host.LocalHttpPort); settings follow"
    )
    parser.add_argument(
        "--emulator-port",
        type=int,
        default=None,
        help=f"emulator port (default the connection string's, else {EMULATOR_PORT}); settings follow",
    )
    parser.add_argument("--settings", default=None, help="settings file (default APP_ROOT/local.settings.json)")
    parser.add_argument("--no-auth", action="store_true", help="do not check function keys")
    parser.add_argument("--dev-identity", action="store_true", help="serve the development identity provider")
    parser.add_argument("--host", default="127.0.0.1")
    return parser.parse_args(argv)


@dataclass(frozen=True)
class Started:
    """What the banner reports about a started stack, and what to stop."""

    host: DevHost
    emulator: Emulator | None
    service: list[str]  # which Web PubSub, which credential
    moves: tuple[Move, ...]  # settings moved to the stack's ports
    warnings: list[str]  # settings that point where nothing runs, conflicts


def banner(started: Started) -> str:
    host = started.host
    key = host.settings.function_key if host.enforce_keys else None
    key_header = f" -H 'x-functions-key: {key}'" if key else ""
    curl = f"curl -X POST '{host.base_url}/api/publish'{key_header} -H 'Content-Type: text/plain' -d 'Hello World'"
    issuer = host.identity_provider.issuer if host.identity_provider is not None else None
    moved = (
        [f"Started on other ports than {host.settings.source} names; these settings follow, for this run only:"]
        + [f"    {move}" for move in started.moves]
        if started.moves
        else []
    )
    return "\n".join(
        [
            "",
            *started.service,
            *moved,
            "Functions:",
            *(f"    {line}" for line in host.describe()),
            f"Demo page: {host.base_url}/   (open it, then publish:)",
            f"    {curl}",
            *([f"Development identity provider: {issuer} (sign in on the demo page)"] if issuer else []),
            *(f"Warning: {line}" for line in started.warnings),
            "Press Ctrl-C to stop.",
            "",
        ]
    )


def plan_emulator(choice: ServiceChoice, args: argparse.Namespace, warnings: list[str]) -> Emulator | None:
    """The emulator the settings call for, on ``--emulator-port`` or the connection string's port."""
    if not choice.is_emulator:
        if args.emulator_port is not None:
            warnings.append(
                f"--emulator-port {args.emulator_port} is ignored: {choice.setting} names a real Web PubSub"
            )
        return None
    named_port = choice.endpoint.port if choice.endpoint is not None else EMULATOR_PORT
    try:
        return Emulator(
            host=args.host,
            port=named_port if args.emulator_port is None else args.emulator_port,
            access_key=choice.access_key or DEFAULT_ACCESS_KEY,
        )
    except ValueError as error:
        raise SettingsError(f"{CONNECTION_STRING}: the emulator cannot use its AccessKey: {error}") from None


def describe_service(choice: ServiceChoice, emulator: Emulator | None) -> list[str]:
    if emulator is None:
        assert choice.endpoint is not None
        return [
            f"Web PubSub: {choice.endpoint.url}, a real resource ({choice.setting}); no emulator started",
            f"    credential: {choice.credential()}",
        ]
    if emulator.access_key == DEFAULT_ACCESS_KEY:  # the emulator's public key: fine to print
        lines = [f"Web PubSub emulator: {emulator.connection_string}"]
    else:
        lines = [
            f"Web PubSub emulator: http://localhost:{emulator.port} (signed with the AccessKey in {CONNECTION_STRING})"
        ]
    if choice.setting is None:
        lines.append(f"    {CONNECTION_STRING} and {ENDPOINT} are not set: the app uses the emulator's, for this run")
    return lines


def identity_warnings(values: dict[str, str], host: DevHost) -> list[str]:
    """Settings naming this host's development identity provider when it is not running."""
    if host.identity_provider is not None:
        return []
    return [
        f"{name} names the development identity provider ({host.base_url}{IDENTITY_PATH}), which runs only "
        "with --dev-identity (make run starts it): sign-in will fail"
        for name, value in values.items()
        if IDENTITY_PATH in value and any(port == host.port for _, port in loopback_origins(value))
    ]


def settings_seen_by_the_app(settings: LocalSettings) -> tuple[dict[str, str], set[str]]:
    """The values the app will read (the environment wins, as in Core Tools), and which came from it."""
    names = {*settings.values, CONNECTION_STRING, ENDPOINT}
    from_environment = {name for name in names if name in os.environ}
    return {**settings.values, **{name: os.environ[name] for name in from_environment}}, from_environment


async def start(args: argparse.Namespace) -> Started:
    """Start what the settings call for, then make the settings follow the ports it runs on."""
    app_root = Path(args.app_root)
    settings = read_local_settings(Path(args.settings) if args.settings else app_root / "local.settings.json")
    seen, _ = settings_seen_by_the_app(settings)
    choice = choose_service(seen)
    warnings = [conflict] if (conflict := choice.conflict()) else []
    emulator = plan_emulator(choice, args, warnings)
    host = DevHost(
        app_root,
        settings,
        host=args.host,
        port=args.port,
        enforce_keys=not args.no_auth,
        dev_identity=args.dev_identity,
    )
    host.load()
    await start_servers(host, emulator)
    moves = follow_the_stack(host, emulator, choice)
    effective, _ = settings_seen_by_the_app(host.settings)
    listening = {host.port, *([emulator.port] if emulator is not None else [])}
    warnings += strays(effective, listening) + identity_warnings(effective, host)
    return Started(host, emulator, describe_service(choice, emulator), moves, warnings)


async def start_servers(host: DevHost, emulator: Emulator | None) -> None:
    if emulator is not None:
        await emulator.start()
    try:
        await host.start()
    except BaseException:
        if emulator is not None:
            await emulator.stop()
        raise


def follow_the_stack(host: DevHost, emulator: Emulator | None, choice: ServiceChoice) -> tuple[Move, ...]:
    """Move the file's settings to the ports the servers run on, put them in the environment
    (where the app reads them) and in the host (CORS); the moves, for the banner."""
    settings = host.settings
    _, from_environment = settings_seen_by_the_app(settings)
    ports = {settings.port: host.port}
    if emulator is not None and choice.endpoint is not None:
        ports[choice.endpoint.port] = emulator.port
    followed = follow(settings.values, settings.cors_origins, ports, from_environment)
    values = followed.values
    if emulator is not None and choice.setting is None:
        values[CONNECTION_STRING] = emulator.connection_string
    apply_values(values)
    host.settings = dataclasses.replace(settings, values=values, cors_origins=followed.cors_origins, port=host.port)
    if settings.port == host.port:
        return followed.moves
    return (Move("Host.LocalHttpPort", str(settings.port), str(host.port)), *followed.moves)


async def serve(args: argparse.Namespace) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    started = await start(args)
    print(banner(started), flush=True)
    await stop.wait()
    await started.host.stop()
    if started.emulator is not None:
        await started.emulator.stop()
    print("Stopped.", flush=True)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("azure").setLevel(logging.WARNING)
    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(serve(parse_args(argv)))
    except (FunctionLoadError, SettingsError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
