"""The few names Microsoft's client tests import from ``devtools_testutils``, for live runs only.

The Azure SDK repository's own package records and replays HTTP traffic through a test proxy.
These tests are marked ``live_test_only`` and talk WebSocket, so nothing is recorded: the
decorators pass the test through, and the preparer hands the test the connection string from
``WEBPUBSUBCLIENT_CONNECTION_STRING``, as the real one does in live mode.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any


class AzureRecordedTestCase:
    """The base class of the SDK's test cases; nothing to record in a live run."""


def recorded_by_proxy(test: Callable[..., Any]) -> Callable[..., Any]:
    return test


def PowerShellPreparer(name_prefix: str, **defaults: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``@PowerShellPreparer("webpubsubclient", webpubsubclient_connection_string=...)`` passes each
    named value, read from its upper-case environment variable, to the test."""

    def decorate(test: Callable[..., Any]) -> Callable[..., Any]:
        def run(self: object) -> Any:
            values = {key: os.environ.get(key.upper(), default) for key, default in defaults.items()}
            return test(self, **values)

        run.__name__ = test.__name__
        return run

    return decorate
