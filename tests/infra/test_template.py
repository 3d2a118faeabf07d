"""The azd template, parsed: a typo in a resource type, API version, role id or setting fails here.

No Bicep compiler can be installed from the package registries, so the facts that matter are
checked in the text itself.
"""

from __future__ import annotations

import json
import re

import pytest
import yaml

from tests.support import APP_ROOT

INFRA = APP_ROOT / "infra"
RESOURCE = re.compile(r"^resource\s+(\w+)\s+'([\w./]+)@([\w-]+)'", re.MULTILINE)
OUTPUT = re.compile(r"^output\s+(\w+)\s+(\w+)\s*=\s*(.+)$", re.MULTILINE)
SETTING = re.compile(r"\{\s*name:\s*'([^']+)',\s*value:\s*(.+)\s\}\s*$", re.MULTILINE)  # one setting a line

EXPECTED_RESOURCES = {
    "Microsoft.Resources/resourceGroups": "2024-03-01",
    "Microsoft.ManagedIdentity/userAssignedIdentities": "2023-01-31",
    "Microsoft.Storage/storageAccounts": "2023-05-01",
    "Microsoft.Storage/storageAccounts/blobServices": "2023-05-01",
    "Microsoft.Storage/storageAccounts/blobServices/containers": "2023-05-01",
    "Microsoft.OperationalInsights/workspaces": "2023-09-01",
    "Microsoft.Insights/components": "2020-02-02",
    "Microsoft.SignalRService/webPubSub": "2024-03-01",
    "Microsoft.Web/serverfarms": "2024-04-01",
    "Microsoft.Web/sites": "2024-04-01",
    "Microsoft.Authorization/roleAssignments": "2022-04-01",
}
WEB_PUBSUB_SERVICE_OWNER = "12cf5a90-567b-43ae-8102-96cf46c7d9b4"
SECRET_MARKERS = (
    "listKeys",
    "listConnectionString",
    "AccountKey=",
    "AccessKey",
    "@secure",
    "primaryKey",
    "WebPubSubConnectionString",
)


def bicep_text() -> str:
    return "\n".join(path.read_text() for path in sorted(INFRA.glob("*.bicep")))


def resources() -> list[tuple[str, str, str]]:
    return RESOURCE.findall(bicep_text())


def block_of(symbol: str) -> str:
    """The text of one resource declaration, up to the next top-level declaration."""
    text = (INFRA / "resources.bicep").read_text()
    start = text.index(f"resource {symbol} ")
    end = min(
        (i for i in (text.find("\nresource ", start + 1), text.find("\noutput ", start + 1)) if i > 0),
        default=len(text),
    )
    return text[start:end]


def test_azure_yaml_declares_the_function_service() -> None:
    document = yaml.safe_load((APP_ROOT / "azure.yaml").read_text())
    assert document["services"]["api"] == {"project": ".", "language": "python", "host": "function"}


def test_every_expected_resource_type_and_api_version() -> None:
    declared = {(kind, version) for _, kind, version in resources()}
    for kind, version in EXPECTED_RESOURCES.items():
        assert (kind, version) in declared, f"{kind}@{version} missing"
    assert {kind for kind, _ in declared} <= set(EXPECTED_RESOURCES)


def test_flex_consumption_python_311_function_app_tagged_for_azd() -> None:
    plan, app = block_of("plan"), block_of("functionApp")
    assert "tier: 'FlexConsumption'" in plan and "name: 'FC1'" in plan
    assert "kind: 'functionapp,linux'" in app
    assert re.search(r"runtime: \{\s*name: 'python'\s*version: '3\.11'", app)
    assert "'azd-service-name': 'api'" in app
    assert "type: 'UserAssigned'" in app


def test_web_pubsub_sku_is_a_parameter_defaulting_to_free_and_local_auth_is_off() -> None:
    main = (INFRA / "main.bicep").read_text()
    assert "param webPubSubSku string = 'Free_F1'" in main
    block = block_of("webPubSub")
    assert "name: webPubSubSku" in block
    assert "disableLocalAuth: true" in block


def test_identity_holds_web_pubsub_service_owner_on_the_resource() -> None:
    text = bicep_text()
    assert f"webPubSubServiceOwnerRoleId = '{WEB_PUBSUB_SERVICE_OWNER}'" in text
    owner = block_of("webPubSubOwner")
    assert "scope: webPubSub" in owner
    assert "principalId: identity.properties.principalId" in owner
    role = "subscriptionResourceId('Microsoft.Authorization/roleDefinitions', webPubSubServiceOwnerRoleId)"
    assert f"roleDefinitionId: {role}" in owner


def test_storage_is_reached_by_identity_only() -> None:
    assert "allowSharedKeyAccess: false" in block_of("storage")
    settings = dict(SETTING.findall(block_of("functionApp")))
    assert settings["AzureWebJobsStorage__credential"] == "'managedidentity'"
    assert "AzureWebJobsStorage" not in settings


def test_app_settings_are_identity_based_and_secret_free() -> None:
    settings = dict(SETTING.findall(block_of("functionApp")))
    assert settings["WebPubSubEndpoint"] == "'https://${webPubSub.properties.hostName}'"
    assert settings["WebPubSubHub"] == "hubName"
    assert settings["AZURE_CLIENT_ID"] == "identity.properties.clientId"
    assert "FUNCTIONS_WORKER_RUNTIME" not in settings  # Flex Consumption refuses it
    for name, value in settings.items():
        assert not any(marker in name or marker in value for marker in SECRET_MARKERS), name


@pytest.mark.parametrize("marker", SECRET_MARKERS)
def test_no_secret_anywhere_in_the_template(marker: str) -> None:
    assert marker not in bicep_text()


def test_outputs_are_endpoint_urls_and_names() -> None:
    outputs = {name: expression for name, _, expression in OUTPUT.findall(bicep_text())}
    assert {"NEGOTIATE_URL", "PUBLISH_URL", "WEBPUBSUB_ENDPOINT", "AZURE_FUNCTION_APP_NAME"} <= set(outputs)
    assert outputs["negotiateUrl"].endswith("/api/negotiate'")
    assert outputs["publishUrl"].endswith("/api/publish'")
    for name in outputs:
        assert not re.search("key|secret|password|connectionstring", name, re.IGNORECASE), name


def test_parameters_file_maps_the_azd_environment() -> None:
    parameters = json.loads((INFRA / "main.parameters.json").read_text())["parameters"]
    assert parameters["environmentName"]["value"] == "${AZURE_ENV_NAME}"
    assert parameters["location"]["value"] == "${AZURE_LOCATION}"
    main = (INFRA / "main.bicep").read_text()
    for name in parameters:
        assert re.search(rf"^param {name} ", main, re.MULTILINE), f"{name} is not a parameter of main.bicep"


def test_modules_reference_existing_files() -> None:
    for module in re.findall(r"module\s+\w+\s+'([^']+)'", (INFRA / "main.bicep").read_text()):
        assert (INFRA / module).is_file(), module


def test_deployments_leave_out_dev_tools_tests_and_local_secrets() -> None:
    ignored = {line.strip() for line in (APP_ROOT / ".funcignore").read_text().splitlines() if line.strip()}
    for entry in (
        "tests",
        "emulator",
        "devhost",
        "bench",
        "infra",
        "local.settings.json",
        ".venv",
        "requirements-dev.txt",
    ):
        assert entry in ignored, entry
    for product in ("negotiate", "publish", "shared", "host.json", "requirements.txt"):
        assert product not in ignored, product
