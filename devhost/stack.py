"""``make run``: the emulator and the dev host together, in one process, stopped by Ctrl-C.

Settings come from ``local.settings.json`` (copied from the example by ``make run``), read as the
app reads them (:mod:`devhost.web_pubsub`): a ``WebPubSubConnectionString`` for this machine, or
none at all, means the emulator, started on the string's port with the string's key; a real
resource (a connection string for another host, or ``WebPubSubEndpoint`` alone) means no emulator.

Started on other ports (``--port``, ``--emulator-port``; ``make run PORT=7072 EMULATOR_PORT=8081``),
the stack moves the settings that point at it to the ports it really uses, for this run only
(:mod:`devhost.ports`). The banner says which service and credential the app uses, each setting
it moved, and, one line each, every setting that still points where the stack started nothing.

The whole loop runs with no cloud: when ``AzureWebJobsStorage`` names no account, Azurite's queue
and table services start too and the setting points at them for the run
(:mod:`devhost.local_storage`); when the app has an ``events`` function and the emulator runs,
every hub the app serves sends its events (system, user, group presence) to that function
(:mod:`devhost.hub_wiring`). The banner says both.
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

from devhost.functions import FunctionLoadError
from devhost.hub_wiring import ALLOWED_HUBS, EVENTS_FUNCTION, HUB, hub_settings_for, served_hubs
from devhost.identity import PATH as IDENTITY_PATH
from devhost.local_settings import LocalSettings, SettingsError, apply_values
from devhost.local_storage import STORAGE, LocalStorage, installed, wants_local_storage
from devhost.options import add_host_options, build_host, read_settings
from devhost.ports import Move, follow, loopback_origins, strays
from devhost.server import DevHost
from devhost.web_pubsub import CONNECTION_STRING, ENDPOINT, ServiceChoice, choose_service
from emulator import DEFAULT_ACCESS_KEY, Emulator
from emulator import DEFAULT_PORT as EMULATOR_PORT
from emulator.hub_settings import HubSettings, HubSettingsError


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m devhost.stack", description="Emulator + dev host.")
    add_host_options(parser, port_help="dev host port (default Host.LocalHttpPort); settings follow")
    parser.add_argument(
        "--emulator-port",
        type=int,
        default=None,
        help=f"emulator port (default the connection string's, else {EMULATOR_PORT}); settings follow",
    )
    return parser.parse_args(argv)


@dataclass(frozen=True)
class Started:
    """What the banner reports about a started stack, and what to stop."""

    host: DevHost
    emulator: Emulator | None
    storage: LocalStorage | None
    service: list[str]  # which Web PubSub, which credential, which storage, which event handler
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


def plan_emulator(
    choice: ServiceChoice,
    args: argparse.Namespace,
    warnings: list[str],
    hub_settings: dict[str, HubSettings] | None = None,
) -> Emulator | None:
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
            hub_settings=hub_settings,
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


HUB_SETTINGS = f"{HUB} / {ALLOWED_HUBS}"
EVENTS_PARTS = ("EventsPresenceGroups", "EventsQueueEvents")  # what the events function does beyond connect


def plan_storage(values: dict[str, str], warnings: list[str]) -> LocalStorage | None:
    """Azurite for the run, when the settings leave the storage account to this machine."""
    if not wants_local_storage(values):
        return None
    if not installed():
        warnings.append(
            f"Azurite is not installed (make azurite installs it): {STORAGE} stays empty, "
            "so nothing can be queued and idempotency keys stay in memory"
        )
        return None
    return LocalStorage.create()


def describe_storage(storage: LocalStorage | None) -> list[str]:
    if storage is None:
        return []
    peek = (
        "make queue"
        if storage.on_default_ports
        else f".venv/bin/python -m devtools.queue_peek --connection-string '{storage.connection_string}'"
    )
    return [
        f"Storage: Azurite, queues http://127.0.0.1:{storage.queue.port}, tables http://127.0.0.1:{storage.table.port}",
        f"    {STORAGE} names no account: the app uses Azurite's, for this run",
        f"    what your services would receive from the queue: {peek}",
    ]


def events_url(host: DevHost) -> str | None:
    """The app's ``events`` function, when it has one (it takes every hub's events)."""
    function = next((f for f in host.functions if f.name.lower() == EVENTS_FUNCTION), None)
    return None if function is None else host.base_url + function.route.text


def wiring(hubs: list[str], url: str | None) -> dict[str, HubSettings] | None:
    """The emulator's hub settings: every hub's events to the ``events`` function, if there is one."""
    if url is None:
        return None
    try:
        return hub_settings_for(hubs, url)
    except HubSettingsError as error:  # a hub name the app would refuse as well
        raise SettingsError(f"{HUB_SETTINGS} cannot be wired to the events function: {error}") from None


def describe_wiring(emulator: Emulator | None, hubs: list[str], url: str | None, values: dict[str, str]) -> list[str]:
    if emulator is None or url is None or not hubs:
        return []
    idle = (
        [
            f"    {' and '.join(EVENTS_PARTS)} are not set: the function accepts connections and does nothing "
            "else (local.settings.example.json sets both)"
        ]
        if not any(values.get(name, "").strip() for name in EVENTS_PARTS)
        else []
    )
    return [
        f"Event handler: the emulator sends the events of hub {', '.join(hubs)} to {url}",
        "    connect, connected, disconnected, every user event, group joined/left (--hub-settings shape: "
        "devhost/hub_wiring.py)",
        *idle,
    ]


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
    settings = read_settings(args)
    seen, _ = settings_seen_by_the_app(settings)
    choice = choose_service(seen)
    warnings = [conflict] if (conflict := choice.conflict()) else []
    host = build_host(args, settings)
    storage = plan_storage(seen, warnings)
    hubs = served_hubs(seen)
    async with contextlib.AsyncExitStack() as started:
        if storage is not None:  # Azurite starts in threads while the servers start
            starting_storage = asyncio.ensure_future(storage.start())
            started.push_async_callback(_stop_storage, storage, starting_storage)
        await host.start()
        started.push_async_callback(host.stop)
        url = events_url(host)
        emulator = plan_emulator(choice, args, warnings, wiring(hubs, url) if choice.is_emulator else None)
        if storage is not None:
            await starting_storage
        moves = await start_emulator(host, emulator, choice, storage, started)
        started.pop_all()
    effective, _ = settings_seen_by_the_app(host.settings)
    listening = {host.port, *([emulator.port] if emulator is not None else [])}
    checked = {name: value for name, value in effective.items() if storage is None or name != STORAGE}  # Azurite's
    warnings += strays(checked, listening) + identity_warnings(effective, host)
    service = [
        *describe_service(choice, emulator),
        *describe_storage(storage),
        *describe_wiring(emulator, hubs, url, effective),
    ]
    return Started(host, emulator, storage, service, moves, warnings)


async def _stop_storage(storage: LocalStorage, starting: asyncio.Future[None]) -> None:
    with contextlib.suppress(Exception):
        await starting
    await storage.stop()


async def start_emulator(
    host: DevHost,
    emulator: Emulator | None,
    choice: ServiceChoice,
    storage: LocalStorage | None,
    started: contextlib.AsyncExitStack,
) -> tuple[Move, ...]:
    """Start the emulator with the settings already following the stack, so that the ``events``
    function knows its Web PubSub when the emulator checks it at start (abuse protection); only an
    emulator on port 0 starts first, as its port is known once it listens."""
    first = emulator is not None and emulator.port == 0
    if emulator is not None and first:
        await emulator.start()
        started.push_async_callback(emulator.stop)
    moves = follow_the_stack(host, emulator, choice, storage)
    if emulator is not None and not first:
        await emulator.start()
        started.push_async_callback(emulator.stop)
    return moves


def follow_the_stack(
    host: DevHost, emulator: Emulator | None, choice: ServiceChoice, storage: LocalStorage | None = None
) -> tuple[Move, ...]:
    """Move the file's settings to the ports the servers run on, put them in the environment
    (where the app reads them) and in the host (CORS); the moves, for the banner. With Azurite,
    ``AzureWebJobsStorage`` names it (the banner says so)."""
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
    if storage is not None:  # chosen from the value the app sees, the environment's included
        values[STORAGE] = os.environ[STORAGE] = storage.connection_string
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
    # In the reverse order of the start: the emulator's last events still reach the app's handler.
    if started.emulator is not None:
        await started.emulator.stop()
    await started.host.stop()
    if started.storage is not None:
        await started.storage.stop()
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
