"""The harness for Microsoft's own client tests: the files are the sdist's, and they collect as shipped.

Running them is ``make sdk-client-tests`` (see :mod:`tests.emulator.azure_sdk_client_tests`).
"""

from __future__ import annotations

import hashlib

from emulator import Emulator
from tests.emulator.azure_sdk_client_tests import SHIPPED, run_shipped_tests

SHIPPED_TESTS = {
    "test_auto_connect.py::TestWebpubsubClientAutoConnect::test_auto_connect",
    "test_recovery.py::TestWebpubsubClientRecovery::test_recovery",
    "test_no_recovery_no_connect.py::TestWebpubsubClientNoRecoveryNoReconnect::test_disable_recovery_and_autoconnect",
    "test_no_recovery_no_connect.py::TestWebpubsubClientNoRecoveryNoReconnect"
    "::test_disable_recovery_and_autoconnect_send_concurrently",
}


def test_the_vendored_tests_are_the_sdists_files_byte_for_byte() -> None:
    sums = [line.split() for line in (SHIPPED / "SHA256SUMS").read_text().splitlines() if not line.startswith("#")]
    assert len(sums) == 4
    for digest, name in sums:
        assert hashlib.sha256((SHIPPED / name).read_bytes()).hexdigest() == digest, name


def test_the_shipped_tests_collect_with_the_shim(shared_emulator: Emulator) -> None:
    result = run_shipped_tests(shared_emulator.connection_string, "--collect-only")
    assert result.returncode == 0, result.stdout + result.stderr
    collected = {line.strip() for line in result.stdout.splitlines() if "::" in line}
    assert collected == SHIPPED_TESTS
