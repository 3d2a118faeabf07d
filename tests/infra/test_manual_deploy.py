"""The manual ``az`` path of docs/deployment.md, parsed command by command: Microsoft's order, the flags a Flex
Consumption app with a user-assigned identity needs, and the same roles and settings as the template."""

from __future__ import annotations

import pytest

from tests.infra.manual import load_script, manual_problems, parse_script
from tests.infra.template import Template
from tests.support import APP_ROOT


@pytest.fixture(scope="module")
def template() -> Template:
    return Template.load(APP_ROOT)


def test_the_manual_path_follows_microsofts_sequence_and_matches_the_template(template: Template) -> None:
    assert manual_problems(APP_ROOT, template) == []


def test_every_variable_is_set_before_use_and_no_placeholder_is_left() -> None:
    script = load_script(APP_ROOT)
    assert script.problems == []
    assert script.assignments["storage"].startswith("st")
    assert [c.assigns for c in script.commands if c.assigns] == [
        "storageId",
        "blobEndpoint",
        "queueEndpoint",
        "tableEndpoint",
        "queueId",
        "identityId",
        "principalId",
        "clientId",
        "appInsightsId",
        "wpsId",
        "wpsHost",
        "wpsPrincipalId",
        "tenantId",
        "appHost",
    ]


def test_the_parser_reports_placeholders_and_unset_variables() -> None:
    script = parse_script('az group create --name "$rg"\naz storage account create --name <storage-account>\n')
    assert script.problems == [
        "line 1: $rg is used before any line sets it",
        "line 2: placeholder <storage-account> left for the reader to fill",
    ]


def test_the_parser_joins_continuations_and_reads_substitutions() -> None:
    script = parse_script('rg=x\nid=$(az identity show \\\n  --resource-group "$rg" --query id --output tsv)\n')
    assert script.problems == []
    (command,) = script.commands
    assert command.assigns == "id"
    assert command.option("--query") == "id"
    assert command.option("--resource-group") == "$rg"
