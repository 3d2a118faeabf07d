"""openapi.json against the running app: every response must match the contract."""

from __future__ import annotations

import json
import re

import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import checks

from tests.conftest import Stack
from tests.support import APP_ROOT, TEST_KEY

CONTRACT = APP_ROOT / "openapi.json"


schema = schemathesis.openapi.from_path(str(CONTRACT))

# A wrong method is a 404 on Azure (a route constraint), not the 405 that `unsupported_method` wants.
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
    checks.response_headers_conformance,
    checks.ignored_auth,
]


@schema.parametrize()
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True, database=None)
def test_responses_match_the_contract(case: schemathesis.Case, stack: Stack) -> None:
    case.call_and_validate(base_url=stack.base_url, headers={"x-functions-key": TEST_KEY}, checks=CHECKS)


def test_the_dev_host_serves_the_contract(stack: Stack) -> None:
    response = requests.get(f"{stack.base_url}/api/openapi.json", timeout=5)
    assert response.status_code == 200
    assert response.json() == json.loads(CONTRACT.read_text())


API_DOCS = APP_ROOT / "docs" / "api.md"


def documented_status_tables() -> dict[str, set[str]]:
    """Each ``## `... /api/x``` section's ``| status | when |`` table in docs/api.md, by route."""
    tables: dict[str, set[str]] = {}
    route = None
    for line in API_DOCS.read_text().splitlines():
        heading = re.fullmatch(r"## `[A-Z|]+ (/api/[a-z]+)`", line)
        if heading or line.startswith("## "):
            route = heading.group(1) if heading else None
        elif route and (row := re.match(r"\| (\d{3}) \|", line)):
            tables.setdefault(route, set()).add(row.group(1))
    return tables


def test_documented_status_tables_list_what_the_contract_lists() -> None:
    contract = json.loads(CONTRACT.read_text())["paths"]
    documented = documented_status_tables()
    assert set(documented) == set(contract)
    for route, operations in contract.items():
        for method, operation in operations.items():
            assert documented[route] == set(operation["responses"]), f"{method.upper()} {route}"
