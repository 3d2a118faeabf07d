"""Each known way to break a deployment, applied to a copy of the app: the checks must fail on it.

These are the changes the old regex-based template test let through unchanged, plus their
neighbours. A mutation whose text no longer occurs exactly once fails the test, so the cases
cannot go stale silently.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from lark.exceptions import UnexpectedInput

from tests.infra.manual import manual_problems
from tests.infra.package import package_problems
from tests.infra.template import Template, policy_problems, role_problems, schema_problems, settings_problems

Check = Callable[[Path], list[str]]


def schema(root: Path) -> list[str]:
    return schema_problems(Template.load(root))


def roles(root: Path) -> list[str]:
    return role_problems(Template.load(root))


def settings(root: Path) -> list[str]:
    return settings_problems(Template.load(root))


def policy(root: Path) -> list[str]:
    return policy_problems(Template.load(root))


def manual(root: Path) -> list[str]:
    return manual_problems(root, Template.load(root))


RESOURCES = "infra/resources.bicep"
MAIN = "infra/main.bicep"
DEPLOYMENT_DOCS = "docs/deployment.md"


@dataclass(frozen=True)
class Mutation:
    name: str
    file: str
    old: str
    new: str
    check: Check
    expected: str  # a fragment of the problem the check must report


MUTATIONS = [
    # The eight the issue lists.
    Mutation(
        "role id that is no built-in role",
        RESOURCES,
        "storageBlobDataOwnerRoleId = 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'",
        "storageBlobDataOwnerRoleId = 'b7e6dc6d-f1e8-4753-8033-0f276bb0955c'",
        roles,
        "is not an Azure built-in role",
    ),
    Mutation(
        "role id of another built-in role",
        RESOURCES,
        "storageBlobDataOwnerRoleId = 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'",
        "storageBlobDataOwnerRoleId = 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'",
        roles,
        "lacks 'Storage Blob Data Owner' on storage",
    ),
    Mutation(
        "misspelt host storage setting",
        RESOURCES,
        "'AzureWebJobsStorage__clientId'",
        "'AzureWebJobsStorage__clientID_typo'",
        settings,
        "AzureWebJobsStorage__clientID_typo: not a setting",
    ),
    Mutation(
        "misspelt Flex Consumption property",
        RESOURCES,
        "scaleAndConcurrency:",
        "scaleAndConcurency:",
        schema,
        "functionAppConfig.scaleAndConcurency: no such property",
    ),
    Mutation(
        "invalid deployment storage auth type",
        RESOURCES,
        "type: 'UserAssignedIdentity'",
        "type: 'UserAssignedIdentities'",
        schema,
        "'UserAssignedIdentities' is not one of",
    ),
    Mutation("TLS 1.0", RESOURCES, "minTlsVersion: '1.2'", "minTlsVersion: '1.0'", policy, "minTlsVersion is '1.0'"),
    Mutation(
        "Application Insights local auth on",
        RESOURCES,
        "DisableLocalAuth: true",
        "DisableLocalAuth: false",
        policy,
        "DisableLocalAuth is False",
    ),
    Mutation(
        "multi-line FUNCTIONS_WORKER_RUNTIME setting",
        RESOURCES,
        "        { name: 'WebPubSubHub', value: hubName }\n",
        "        { name: 'WebPubSubHub', value: hubName }\n"
        "        {\n          name: 'FUNCTIONS_WORKER_RUNTIME'\n          value: 'python'\n        }\n",
        settings,
        "FUNCTIONS_WORKER_RUNTIME: Flex Consumption refuses this setting",
    ),
    Mutation(
        ".funcignore line that drops shared/",
        ".funcignore",
        "# local settings (may hold secrets)\n",
        "shared/\n# local settings (may hold secrets)\n",
        package_problems,
        "shared/settings.py: part of the app but left out of the package",
    ),
    # Their neighbours.
    Mutation(
        "table endpoint without its role",
        RESOURCES,
        "roleDefinitions', storageTableDataContributorRoleId)",
        "roleDefinitions', storageQueueDataContributorRoleId)",
        roles,
        "lacks 'Storage Table Data Contributor' on storage",
    ),
    Mutation(
        "hard-coded deploying principal type",
        RESOURCES,
        "    principalType: principalType\n",
        "    principalType: 'User'\n",
        policy,
        "must use the principalType parameter",
    ),
    Mutation("region list cut", MAIN, "  'westus3'\n", "", policy, "not the Flex Consumption regions"),
    Mutation(
        "basic-auth SCM publishing on",
        RESOURCES,
        "name: 'scm'\n  properties: {\n    allow: false",
        "name: 'scm'\n  properties: {\n    allow: true",
        policy,
        "scmPublishing.properties.allow is True",
    ),
    Mutation(
        "API version Microsoft never published",
        RESOURCES,
        "resource functionApp 'Microsoft.Web/sites@2024-04-01'",
        "resource functionApp 'Microsoft.Web/sites@2099-01-01'",
        schema,
        "Microsoft.Web/sites@2099-01-01 is not in the vendored snapshot",
    ),
    Mutation(
        "misspelt storage property",
        RESOURCES,
        "allowSharedKeyAccess: false",
        "allowSharedKeyAcess: false",
        schema,
        "properties.allowSharedKeyAcess: no such property",
    ),
    Mutation(
        "string where a bool belongs",
        RESOURCES,
        "httpsOnly: true",
        "httpsOnly: 'true'",
        schema,
        "'true' is not a bool",
    ),
    Mutation(
        "deployment docs: placeholder",
        DEPLOYMENT_DOCS,
        '--storage-account "$storage"',
        "--storage-account <storage-account>",
        manual,
        "placeholder <storage-account>",
    ),
    Mutation(
        "deployment docs: publishes before the settings",
        DEPLOYMENT_DOCS,
        'az functionapp config appsettings delete --resource-group "$rg"',
        'func azure functionapp publish "$app" --python\n'
        'az functionapp config appsettings delete --resource-group "$rg"',
        manual,
        "comes before",
    ),
    Mutation(
        "deployment docs: without the deployment auth type",
        DEPLOYMENT_DOCS,
        " --deployment-storage-auth-type UserAssignedIdentity",
        "",
        manual,
        "--deployment-storage-auth-type is None",
    ),
    Mutation(
        "deployment docs: role that does not exist",
        DEPLOYMENT_DOCS,
        '--role "Storage Table Data Contributor"',
        '--role "Storage Table Data Writer"',
        manual,
        "'Storage Table Data Writer' is not an Azure built-in role",
    ),
    Mutation(
        "deployment docs: skips the queue role",
        DEPLOYMENT_DOCS,
        '--role "Storage Queue Data Contributor"',
        '--role "Storage Blob Data Owner"',
        manual,
        "the template grants 'Storage Queue Data Contributor' but the manual path does not",
    ),
    Mutation(
        "deployment docs: runtime differs from the template",
        DEPLOYMENT_DOCS,
        "--runtime-version 3.11",
        "--runtime-version 3.12",
        manual,
        "--runtime-version is '3.12'",
    ),
    Mutation(
        "deployment docs: variable never set",
        DEPLOYMENT_DOCS,
        "clientId=$(az identity show",
        "client=$(az identity show",
        manual,
        "$clientId is used before any line sets it",
    ),
    Mutation(
        "deployment docs: keeps the connection string",
        DEPLOYMENT_DOCS,
        "--setting-names AzureWebJobsStorage",
        "--setting-names WEBSITE_RUN_FROM_PACKAGE",
        manual,
        "deletes the AzureWebJobsStorage connection string",
    ),
    Mutation(
        "deployment docs: leaves FTP publishing on",
        DEPLOYMENT_DOCS,
        '--parent "sites/$app" --name ftp --set properties.allow=false',
        '--parent "sites/$app" --name ftp --set properties.allow=true',
        manual,
        "basic-auth publishing (ftp) is not turned off",
    ),
]


def apply(root: Path, mutation: Mutation) -> None:
    path = root / mutation.file
    text = path.read_text()
    assert text.count(mutation.old) == 1, f"mutation {mutation.name!r} no longer matches exactly once"
    path.write_text(text.replace(mutation.old, mutation.new))


@pytest.mark.parametrize("mutation", MUTATIONS, ids=[m.name for m in MUTATIONS])
def test_the_checks_pass_on_the_copy_and_fail_once_it_is_broken(app_copy: Path, mutation: Mutation) -> None:
    assert mutation.check(app_copy) == []
    apply(app_copy, mutation)
    problems = mutation.check(app_copy)
    assert any(mutation.expected in problem for problem in problems), problems


def test_a_bicep_syntax_error_fails_the_parse(app_copy: Path) -> None:
    apply(
        app_copy,
        Mutation(
            "unclosed object",
            RESOURCES,
            "    allow: false\n  }\n}\n\nresource scm",
            "    allow: false\n  }\n\nresource scm",
            schema,
            "",
        ),
    )
    with pytest.raises(UnexpectedInput):
        Template.load(app_copy)
