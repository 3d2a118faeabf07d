"""Microsoft's own tests of the sync Python client, as shipped, against the emulator.

``azure_sdk_tests/webpubsubclient-1.1.0/`` holds ``test_auto_connect.py``, ``test_recovery.py``,
``test_no_recovery_no_connect.py`` and their ``testcase.py`` from the
``azure-messaging-webpubsubclient`` 1.1.0 sdist, byte for byte (``SHA256SUMS``). They run in a
pytest process of their own, with ``azure_sdk_tests/pytest.ini`` and a stand-in for the Azure
SDK repository's ``devtools_testutils`` (``azure_sdk_tests/shim/``) that passes the emulator's
connection string in, as the real one does in live mode.

They are not part of ``make test``: each closes its socket with ``client._ws.sock.close(1001)``
from the test's thread, and the client's listener thread then misses the close in about a third
of the runs, against any server (see :mod:`tests.emulator.sdk_close_race` and the emulator's
README). ``make sdk-client-tests`` runs them ten times and prints each run's result:
``python -m tests.emulator.azure_sdk_client_tests [RUNS]``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from emulator import Emulator
from tests.support import BackgroundLoop

HERE = Path(__file__).parent / "azure_sdk_tests"
SHIPPED = HERE / "webpubsubclient-1.1.0"
RUN_SECONDS = 300  # four tests of at most 60 s each (pytest.ini), and start-up


def pytest_command(*extra: str) -> list[str]:
    """The command that runs the shipped tests (``extra``: more pytest options)."""
    return [
        sys.executable,
        "-m",
        "pytest",
        "-c",
        str(HERE / "pytest.ini"),
        "--rootdir",
        str(SHIPPED),
        "-q",
        "-rf",
        *extra,
        str(SHIPPED),
    ]


def environment(connection_string: str) -> dict[str, str]:
    """The shim on the import path and the connection string where the SDK's preparer reads it."""
    return {
        **os.environ,
        "PYTHONPATH": str(HERE / "shim"),
        "WEBPUBSUBCLIENT_CONNECTION_STRING": connection_string,
    }


def run_shipped_tests(connection_string: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        pytest_command(*extra),
        env=environment(connection_string),
        capture_output=True,
        text=True,
        timeout=RUN_SECONDS,
        check=False,
    )


def main(runs: int) -> int:
    loop = BackgroundLoop()
    emulator = Emulator(port=0)
    loop.run(emulator.start())
    passed = 0
    try:
        for run in range(1, runs + 1):
            result = run_shipped_tests(emulator.connection_string)
            lines = result.stdout.splitlines()
            failed = [line.split(" - ")[0].rsplit("/", 1)[-1] for line in lines if line.startswith("FAILED")]
            totals = [line for line in lines if " passed" in line or " failed" in line]
            summary = [f"FAILED {name}" for name in failed] + totals
            print(f"run {run}: {' | '.join(summary) or result.stdout[-500:]}", flush=True)
            passed += result.returncode == 0
    finally:
        loop.run(emulator.stop())
        loop.close()
    print(f"{passed} of {runs} runs passed")
    return 0 if passed == runs else 1


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 10))
