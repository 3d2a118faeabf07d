"""The app as users run it, for benchmarks: emulator and dev host, each in its own process.

The app folder is a temporary copy made of links to this repository's functions plus one
no-op anonymous function, the baseline that negotiate is compared with.
"""

from __future__ import annotations

import json
import os
import tempfile
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from bench.processes import ROOT, Child, ChildEnded, free_port
from emulator import DEFAULT_ACCESS_KEY

FUNCTION_KEY = "bench-function-key"
HUB = "bench"
NOOP = """import azure.functions as func


async def main(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("{}", mimetype="application/json")
"""
NOOP_JSON = {
    "scriptFile": "__init__.py",
    "bindings": [
        {"type": "httpTrigger", "direction": "in", "name": "req", "authLevel": "anonymous", "methods": ["get", "post"]},
        {"type": "http", "direction": "out", "name": "$return"},
    ],
}
DEV_SIGN_IN = {"NegotiateJwtAudience": "webpubsub-demo"}  # devhost.identity.AUDIENCE
SERVER_CORES = {0}
START_ATTEMPTS = 3
CLIENT_CORES = {1}


# The cores this run may use, read once at import: once the driver has pinned itself to the client
# core, its own affinity no longer says which cores the machine has (reading it then left every
# server on the client core, sharing it with the load generators).
AVAILABLE_CORES = frozenset(os.sched_getaffinity(0))


def pin(pid: int, cores: set[int]) -> str:
    """Pin a process to cores when the machine has them; returns what was done, for the report."""
    available = AVAILABLE_CORES
    if not cores <= available or len(available) < 2 or os.environ.get("BENCH_NO_PIN"):
        return "unpinned"
    os.sched_setaffinity(pid, cores)
    return "core " + ",".join(map(str, sorted(cores)))


@dataclass
class Stack:
    emulator_port: int
    host_port: int

    @property
    def connection_string(self) -> str:
        return f"Endpoint=http://127.0.0.1;Port={self.emulator_port};AccessKey={DEFAULT_ACCESS_KEY};Version=1.0;"

    @property
    def host_url(self) -> str:
        return f"http://127.0.0.1:{self.host_port}"

    @property
    def dev_issuer(self) -> str:
        """The development identity provider's issuer, as the dev host names it (``--dev-identity``)."""
        return f"http://localhost:{self.host_port}/dev-identity"


def make_app(folder: Path, connection_string: str, values: dict[str, str] | None = None) -> None:
    for name in ("negotiate", "publish", "actions", "shared", "host.json"):
        (folder / name).symlink_to(ROOT / name)
    (folder / "noop").mkdir()
    (folder / "noop" / "__init__.py").write_text(NOOP)
    (folder / "noop" / "function.json").write_text(json.dumps(NOOP_JSON))
    settings = {
        "IsEncrypted": False,
        "Values": {"WebPubSubConnectionString": connection_string, "WebPubSubHub": HUB, **(values or {})},
        "Host": {"FunctionKey": FUNCTION_KEY},
    }
    (folder / "local.settings.json").write_text(json.dumps(settings))


def start_stack(
    exits: ExitStack,
    host_cores: set[int] = SERVER_CORES,
    values: dict[str, str] | None = None,
    dev_identity: bool = False,
) -> Stack:
    """Start the emulator on the server cores and the dev host on ``host_cores``.

    ``values`` are extra app settings. With ``dev_identity`` the dev host serves its development
    identity provider and negotiate trusts it (as ``make run`` does). Both stop when ``exits`` closes.
    The emulator binds a port of its own choosing. The dev host's is picked free beforehand, and
    can be taken by another process before the dev host binds it; then the dev host ends without
    its "listening" line, and both start again.
    """
    for attempt in range(START_ATTEMPTS):
        with ExitStack() as attempt_exits:
            try:
                stack = _start_once(attempt_exits, host_cores, values, dev_identity)
            except ChildEnded:
                if attempt == START_ATTEMPTS - 1:
                    raise
                continue
            exits.enter_context(attempt_exits.pop_all())
            return stack
    raise AssertionError("unreachable")


def _start_once(exits: ExitStack, host_cores: set[int], values: dict[str, str] | None, dev_identity: bool) -> Stack:
    emulator = exits.enter_context(Child("emulator", "--port", "0", pipe=True))
    # The dev host's port goes into its own settings (the development issuer's URL), so it is
    # picked before the start; the emulator's is the one it bound.
    stack = Stack(emulator.emulator_port(), free_port())
    folder = Path(exits.enter_context(tempfile.TemporaryDirectory(prefix="bench-app-")))
    host_args = ("--dev-identity",) if dev_identity else ()
    if dev_identity:
        values = {**DEV_SIGN_IN, "NegotiateJwtIssuer": stack.dev_issuer, **(values or {})}
    make_app(folder, stack.connection_string, values)
    # local.settings.json decides
    unset = ("WebPubSubConnectionString", "WebPubSubEndpoint", "WebPubSubHub", "AzureWebJobsStorage")
    host = exits.enter_context(
        Child("devhost", str(folder), "--port", str(stack.host_port), *host_args, unset=unset, pipe=True)
    )
    host.wait_for_line("Functions (dev host on ")
    pin(emulator.process.pid, SERVER_CORES)
    pin(host.process.pid, host_cores)
    return stack
