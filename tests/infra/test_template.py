"""The azd template, parsed by a real Bicep parser and held to Microsoft's published data.

No Bicep compiler or Azure account is available here, so what can be checked locally is checked
structurally: resource types, API versions, property names and enum values against a vendored
snapshot of Microsoft's resource types, role ids against the built-in role table by name, setting
names against Microsoft's Flex Consumption templates (see tests/infra/vendor/README.md).
"""

from __future__ import annotations

import json

import pytest
import yaml

from tests.infra.template import (
    HUB_TYPE,
    Template,
    at,
    events_problems,
    policy_problems,
    render,
    role_problems,
    schema_problems,
    settings_problems,
    vendored,
)
from tests.support import APP_ROOT

INFRA = APP_ROOT / "infra"
SECRET_MARKERS = ("listKeys", "listConnectionString", "AccountKey=", "AccessKey", "@secure", "primaryKey")


@pytest.fixture(scope="module")
def template() -> Template:
    return Template.load(APP_ROOT)


def test_azure_yaml_declares_the_function_service() -> None:
    document = yaml.safe_load((APP_ROOT / "azure.yaml").read_text())
    assert document["services"]["api"] == {"project": ".", "language": "python", "host": "function"}


def test_both_bicep_files_parse_and_declare_the_expected_resources(template: Template) -> None:
    declared = {resource.symbol: resource.type for resource in template.resources()}
    assert declared["rg"] == "Microsoft.Resources/resourceGroups"
    assert declared["functionApp"] == "Microsoft.Web/sites"
    assert declared["plan"] == "Microsoft.Web/serverfarms"
    assert declared["webPubSub"] == "Microsoft.SignalRService/webPubSub"
    assert declared["idempotencyTable"] == "Microsoft.Storage/storageAccounts/tableServices/tables"
    assert declared["eventsQueue"] == "Microsoft.Storage/storageAccounts/queueServices/queues"
    assert declared["eventsHub"] == declared["eventsHubWithPresence"] == HUB_TYPE
    assert template.main["modules"]["resources"]["detail"]["path"] == "resources.bicep"


def test_types_versions_property_names_and_enum_values_match_microsofts_snapshot(template: Template) -> None:
    assert schema_problems(template) == []


def test_role_ids_are_built_in_roles_and_every_endpoint_has_its_data_role(template: Template) -> None:
    assert role_problems(template) == []


def test_the_identity_holds_each_role_by_name(template: Template) -> None:
    roles = vendored("builtin_roles.json")
    held = {
        (a.scope, a.role_id) for a in template.role_assignments() if a.principal == "identity.properties.principalId"
    }
    assert held == {
        ("webPubSub", roles["Web PubSub Service Owner"]),
        ("storage", roles["Storage Blob Data Owner"]),
        ("storage", roles["Storage Queue Data Contributor"]),
        ("storage", roles["Storage Table Data Contributor"]),
        ("appInsights", roles["Monitoring Metrics Publisher"]),
        ("eventsQueue", roles["Storage Queue Data Message Sender"]),
    }


def test_app_settings_use_the_official_identity_based_names(template: Template) -> None:
    assert settings_problems(template) == []
    settings = template.app_settings()
    assert set(vendored("flex_consumption.json")["hostStorageSettings"]) <= set(settings)
    assert "AzureWebJobsStorage" not in settings
    assert render(settings["WebPubSubHub"]) == "hubName"
    assert render(settings["IdempotencyTable"]) == "idempotencyTable.name"
    assert template.literal(template.resource("idempotencyTable").body["name"]) == "IdempotencyKeys"


def test_hosting_and_security_choices(template: Template) -> None:
    assert policy_problems(template) == []


def test_the_hub_sends_its_events_to_the_events_function_with_the_web_pubsub_identitys_token(
    template: Template,
) -> None:
    assert events_problems(template) == []
    assert template.events_url == "https://${functionApp.properties.defaultHostName}/api/events"
    assert template.literal(template.resource("eventsQueue").body["name"]) == "client-events"


def test_group_presence_events_are_a_preview_behind_a_parameter_that_the_docs_name(template: Template) -> None:
    versions = {hub.condition: hub.api_version for hub in template.resources() if hub.type == HUB_TYPE}
    assert versions == {"!groupPresenceEvents": "2024-03-01", "groupPresenceEvents": "2025-08-01-preview"}
    assert template.main["parameters"]["groupPresenceEvents"]["default"] is False
    docs = (APP_ROOT / "docs" / "deployment.md").read_text()
    description = " ".join(d["argument"] for d in template.main["parameters"]["groupPresenceEvents"]["decorators"])
    for text in (docs, description):
        assert versions["groupPresenceEvents"] in text
    assert "WEBPUBSUB_GROUP_PRESENCE" in docs


def test_web_pubsub_sku_is_a_parameter_defaulting_to_free(template: Template) -> None:
    parameter = template.main["parameters"]["webPubSubSku"]
    assert parameter["default"] == "Free_F1"
    assert render(at(template.resource("webPubSub").body, "sku.name")) == "webPubSubSku"


def test_python_runtime_matches_the_project(template: Template) -> None:
    runtime = at(template.resource("functionApp").body, "properties.functionAppConfig.runtime")
    target = "py" + runtime["version"].replace(".", "")
    assert f'target-version = "{target}"' in (APP_ROOT / "pyproject.toml").read_text()


@pytest.mark.parametrize("marker", SECRET_MARKERS)
def test_no_secret_anywhere_in_the_template(marker: str) -> None:
    for path in INFRA.glob("*.bicep"):
        assert marker not in path.read_text(), path.name


def test_outputs_are_endpoint_urls_and_names(template: Template) -> None:
    outputs = template.main["outputs"]
    expected = {
        "NEGOTIATE_URL",
        "PUBLISH_URL",
        "ACTIONS_URL",
        "EVENTS_URL",
        "WEBPUBSUB_ENDPOINT",
        "AZURE_FUNCTION_APP_NAME",
    }
    assert expected <= set(outputs)
    module_outputs = template.module["outputs"]
    assert module_outputs["negotiateUrl"]["value"].endswith("/api/negotiate")
    assert module_outputs["publishUrl"]["value"].endswith("/api/publish")
    assert module_outputs["actionsUrl"]["value"].endswith("/api/actions")
    assert module_outputs["eventsUrl"]["value"] == template.events_url
    for name in [*outputs, *module_outputs]:
        assert not any(word in name.lower() for word in ("key", "secret", "password", "connectionstring")), name


def test_parameters_file_maps_the_azd_environment(template: Template) -> None:
    parameters = json.loads((INFRA / "main.parameters.json").read_text())["parameters"]
    assert parameters["environmentName"]["value"] == "${AZURE_ENV_NAME}"
    assert parameters["location"]["value"] == "${AZURE_LOCATION}"
    assert parameters["principalType"]["value"] == "${AZURE_PRINCIPAL_TYPE=User}"
    assert parameters["groupPresenceEvents"]["value"] == "${WEBPUBSUB_GROUP_PRESENCE=false}"
    assert set(parameters) <= set(template.main["parameters"])
