"""Each known way to break a deployment, applied to a copy of the app: the checks must fail on it.

These are the changes the old regex-based template test let through unchanged, plus their
neighbours. A mutation whose text no longer occurs exactly once fails the test, so the cases
cannot go stale silently.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from lark.exceptions import UnexpectedInput

from tests.infra.manual import manual_problems
from tests.infra.package import package_problems
from tests.infra.template import (
    Template,
    events_problems,
    policy_problems,
    role_problems,
    schema_problems,
    settings_problems,
)

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


def events(root: Path) -> list[str]:
    return events_problems(Template.load(root))


RESOURCES = "infra/resources.bicep"
MAIN = "infra/main.bicep"
PARAMETERS = "infra/main.parameters.json"
DEPLOYMENT_DOCS = "docs/deployment.md"
# The GA hub's declaration up to its auth type: the two hub declarations share their handler's text,
# so a change to one of them is anchored here.
GA_HUB = """resource eventsHub 'Microsoft.SignalRService/webPubSub/hubs@2024-03-01' = if (!groupPresenceEvents) {
  parent: webPubSub
  name: hubName
  properties: {
    anonymousConnectPolicy: 'deny'
    eventHandlers: [
      {
        urlTemplate: 'https://${functionApp.properties.defaultHostName}/api/events'
        userEventPattern: '*'
        systemEvents: ['connect', 'connected', 'disconnected']
        auth: {
          type: 'ManagedIdentity'
"""
PRESENCE_HUB = "resource eventsHubWithPresence 'Microsoft.SignalRService/webPubSub/hubs@2025-08-01-preview'"
PRESENCE_EVENTS = "groupPresenceEvents: {\n          eventNames: ['joined', 'left']"
SENDER = """  scope: eventsQueue
  properties: {
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId("""


def ga_hub(old: str, new: str) -> tuple[str, str]:
    """A mutation of the GA hub declaration alone: (old, new) texts for a Mutation."""
    assert old in GA_HUB
    return GA_HUB, GA_HUB.replace(old, new)


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
    # The hub's event handler (issue 23): each required piece removed or wrong.
    Mutation(
        "event handler: another route", RESOURCES, *ga_hub("/api/events'", "/api/event'"), events, "urlTemplate is"
    ),
    Mutation("event handler: plain http", RESOURCES, *ga_hub("'https://", "'http://"), events, "urlTemplate is"),
    Mutation(
        "event handler: no auth",
        RESOURCES,
        *ga_hub("type: 'ManagedIdentity'", "type: 'None'"),
        events,
        "auth type must be 'ManagedIdentity'",
    ),
    Mutation(
        "event handler: misspelt auth type",
        RESOURCES,
        *ga_hub("type: 'ManagedIdentity'", "type: 'ManagedIdentities'"),
        schema,
        "'ManagedIdentities' is not one of",
    ),
    Mutation(
        "event handler: an audience other than the setting's",
        RESOURCES,
        "            resource: eventsAudience\n          }\n        }\n      }\n    ]\n  }\n}\n\n"
        "resource eventsHubWithPresence",
        "            resource: identity.properties.clientId\n          }\n        }\n      }\n    ]\n  }\n}\n\n"
        "resource eventsHubWithPresence",
        events,
        "is not EventsIdentityAudience",
    ),
    Mutation(
        "event handler: without connect",
        RESOURCES,
        *ga_hub("['connect', 'connected', 'disconnected']", "['connected', 'disconnected']"),
        events,
        "systemEvents lacks 'connect'",
    ),
    Mutation(
        "event handler: misspelt system event",
        RESOURCES,
        *ga_hub("'disconnected']", "'disconnect']"),
        events,
        "'disconnect' is not a system event",
    ),
    Mutation(
        "event handler: only some user events",
        RESOURCES,
        *ga_hub("userEventPattern: '*'", "userEventPattern: 'chat'"),
        events,
        "userEventPattern must be '*'",
    ),
    Mutation(
        "hub allows anonymous connections",
        RESOURCES,
        *ga_hub("anonymousConnectPolicy: 'deny'", "anonymousConnectPolicy: 'allow'"),
        events,
        "anonymousConnectPolicy must be 'deny'",
    ),
    Mutation(
        "hub for another hub than WebPubSubHub",
        RESOURCES,
        *ga_hub("name: hubName", "name: 'chat'"),
        events,
        "must be the hub named hubName",
    ),
    Mutation(
        "presence events at the GA API version",
        RESOURCES,
        *ga_hub(
            "        userEventPattern: '*'\n",
            "        userEventPattern: '*'\n"
            "        groupPresenceEvents: {\n          eventNames: ['joined', 'left']\n        }\n",
        ),
        schema,
        "groupPresenceEvents: no such property",
    ),
    Mutation(
        "presence hub with a handler of its own",
        RESOURCES,
        PRESENCE_HUB + " = if (groupPresenceEvents) {\n  parent: webPubSub\n  name: hubName\n  properties: {\n"
        "    anonymousConnectPolicy: 'deny'\n    eventHandlers: [\n      {\n"
        "        urlTemplate: 'https://${functionApp.properties.defaultHostName}/api/events'\n"
        "        userEventPattern: '*'\n        systemEvents: ['connect', 'connected', 'disconnected']",
        PRESENCE_HUB + " = if (groupPresenceEvents) {\n  parent: webPubSub\n  name: hubName\n  properties: {\n"
        "    anonymousConnectPolicy: 'deny'\n    eventHandlers: [\n      {\n"
        "        urlTemplate: 'https://${functionApp.properties.defaultHostName}/api/events'\n"
        "        userEventPattern: '*'\n        systemEvents: ['connect']",
        events,
        "the hub declarations configure different event handlers",
    ),
    Mutation(
        "presence hub at the GA API version",
        RESOURCES,
        PRESENCE_HUB,
        PRESENCE_HUB.replace("2025-08-01-preview", "2024-03-01"),
        events,
        "2 hub declarations at an API version without group presence events",
    ),
    Mutation(
        "preview API version Microsoft never published",
        RESOURCES,
        PRESENCE_HUB,
        PRESENCE_HUB.replace("2025-08-01-preview", "2025-09-01-preview"),
        schema,
        "hubs@2025-09-01-preview is not in the vendored snapshot",
    ),
    Mutation(
        "misspelt presence event",
        RESOURCES,
        PRESENCE_EVENTS,
        PRESENCE_EVENTS.replace("'joined'", "'join'"),
        schema,
        "'join' is not one of ['joined', 'left']",
    ),
    Mutation(
        "presence without leaves",
        RESOURCES,
        PRESENCE_EVENTS,
        PRESENCE_EVENTS.replace("['joined', 'left']", "['joined']"),
        events,
        "groupPresenceEvents.eventNames is ['joined']",
    ),
    Mutation(
        "presence hub deployed whatever the parameter",
        RESOURCES,
        PRESENCE_HUB + " = if (groupPresenceEvents) {",
        PRESENCE_HUB + " = {",
        events,
        "deployed if None, expected if 'groupPresenceEvents'",
    ),
    Mutation(
        "both hubs deployed with presence on",
        RESOURCES,
        "= if (!groupPresenceEvents) {",
        "= if (groupPresenceEvents) {",
        events,
        "expected if '!groupPresenceEvents'",
    ),
    Mutation(
        "presence (a preview) on by default",
        MAIN,
        "param groupPresenceEvents bool = false",
        "param groupPresenceEvents bool = true",
        events,
        "false by default",
    ),
    Mutation(
        "presence parameter not passed to the module",
        MAIN,
        "    groupPresenceEvents: groupPresenceEvents\n",
        "",
        events,
        "must pass groupPresenceEvents",
    ),
    Mutation(
        "presence parameter not mapped for azd",
        PARAMETERS,
        '"${WEBPUBSUB_GROUP_PRESENCE=false}"',
        '"false"',
        events,
        "must map groupPresenceEvents to WEBPUBSUB_GROUP_PRESENCE",
    ),
    Mutation(
        "Web PubSub without an identity of its own",
        RESOURCES,
        "  identity: {\n    type: 'SystemAssigned'\n  }\n",
        "",
        policy,
        "webPubSub.identity.type is None",
    ),
    Mutation(
        "Web PubSub with a user-assigned identity type but none named",
        RESOURCES,
        "    type: 'SystemAssigned'\n",
        "    type: 'UserAssigned'\n",
        policy,
        "webPubSub.identity.type is 'UserAssigned'",
    ),
    Mutation(
        "token checked against the app's identity, not Web PubSub's",
        RESOURCES,
        "value: webPubSub.identity.principalId",
        "value: identity.properties.principalId",
        events,
        "EventsIdentityObjectId: 'identity.properties.principalId'",
    ),
    Mutation(
        "issuer of v2 tokens",
        RESOURCES,
        "var eventsTokenIssuer = 'https://sts.windows.net/${tenant().tenantId}/'",
        "var eventsTokenIssuer = 'https://login.microsoftonline.com/${tenant().tenantId}/v2.0'",
        events,
        "EventsIdentityIssuer: 'https://login.microsoftonline.com/",
    ),
    Mutation(
        "audience setting missing",
        RESOURCES,
        "        { name: 'EventsIdentityAudience', value: eventsAudience }\n",
        "",
        events,
        "EventsIdentityAudience: missing",
    ),
    Mutation(
        "queue setting missing",
        RESOURCES,
        "        { name: 'EventsQueueName', value: eventsQueue.name }\n",
        "",
        events,
        "EventsQueueName: missing",
    ),
    Mutation(
        "queue name that is no queue name",
        RESOURCES,
        "var eventsQueueName = 'client-events'",
        "var eventsQueueName = 'Client_Events'",
        events,
        "'Client_Events' is not a literal storage queue name",
    ),
    Mutation(
        "queue in the table service",
        RESOURCES,
        "resource eventsQueue 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' = {\n"
        "  parent: queueService",
        "resource eventsQueue 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' = {\n"
        "  parent: tableService",
        events,
        "must be a queue of the storage account's queue service",
    ),
    Mutation(
        "queue sender role on another scope",
        RESOURCES,
        SENDER,
        SENDER.replace("scope: eventsQueue", "scope: webPubSub"),
        roles,
        "lacks 'Storage Queue Data Message Sender' on eventsQueue",
    ),
    Mutation(
        "queue role that only reads",
        RESOURCES,
        "storageQueueDataMessageSenderRoleId = 'c6a89b2d-59bc-44d0-9896-0f6e12d7b80a'",
        "storageQueueDataMessageSenderRoleId = '19e7f393-937e-4f77-808e-94535e297925'",
        roles,
        "lacks 'Storage Queue Data Message Sender' on eventsQueue",
    ),
    # The same by hand.
    Mutation(
        "deployment docs: Web PubSub without its identity",
        DEPLOYMENT_DOCS,
        'az webpubsub identity assign --resource-group "$rg" --name "$wps" --identity "[system]"\n',
        "",
        manual,
        "no command that gives Web PubSub its system-assigned identity",
    ),
    Mutation(
        "deployment docs: hub without managed-identity auth",
        DEPLOYMENT_DOCS,
        ' \\\n  auth-type=ManagedIdentity "auth-resource=$clientId"',
        "",
        manual,
        "--event-handler auth-type is None, expected ['ManagedIdentity']",
    ),
    Mutation(
        "deployment docs: event handler on another route",
        DEPLOYMENT_DOCS,
        '"url-template=https://$appHost/api/events"',
        '"url-template=https://$appHost/api/event"',
        manual,
        "--event-handler url-template is ['https://$appHost/api/event']",
    ),
    Mutation(
        "deployment docs: event handler without connect",
        DEPLOYMENT_DOCS,
        "system-event=connect system-event=connected",
        "system-event=connected",
        manual,
        "--event-handler system-event is ['connected', 'disconnected']",
    ),
    Mutation(
        "deployment docs: anonymous connections allowed",
        DEPLOYMENT_DOCS,
        "--allow-anonymous false",
        "--allow-anonymous true",
        manual,
        "the hub must deny anonymous connections",
    ),
    Mutation(
        "deployment docs: hub created before the function app",
        DEPLOYMENT_DOCS,
        "\naz functionapp create --resource-group",
        '\naz webpubsub hub create --resource-group "$rg" --name "$wps" --hub-name pubsub\n'
        "az functionapp create --resource-group",
        manual,
        "the hub is created before the Web PubSub identity or the function app exists",
    ),
    Mutation(
        "deployment docs: no queue",
        DEPLOYMENT_DOCS,
        'az resource create --resource-group "$rg" --namespace Microsoft.Storage \\\n'
        '  --parent "storageAccounts/$storage/queueServices/default" --resource-type queues \\\n'
        '  --name client-events --properties "{}"\n',
        "",
        manual,
        "no command that creates the queue EventsQueueName names ('client-events')",
    ),
    Mutation(
        "deployment docs: queue sender on the whole account",
        DEPLOYMENT_DOCS,
        '--role "Storage Queue Data Message Sender" --scope "$queueId"',
        '--role "Storage Queue Data Message Sender" --scope "$storageId"',
        manual,
        "Storage Queue Data Message Sender is granted on ['$storageId']",
    ),
    Mutation(
        "deployment docs: without the queue sender role",
        DEPLOYMENT_DOCS,
        '--role "Storage Queue Data Message Sender" --scope "$queueId"',
        '--role "Storage Queue Data Contributor" --scope "$queueId"',
        manual,
        "the template grants 'Storage Queue Data Message Sender' but the manual path does not",
    ),
    Mutation(
        "deployment docs: token checked against the app's identity",
        DEPLOYMENT_DOCS,
        '"EventsIdentityObjectId=$wpsPrincipalId"',
        '"EventsIdentityObjectId=$principalId"',
        manual,
        "EventsIdentityObjectId is set to '$principalId'",
    ),
    Mutation(
        "deployment docs: no issuer setting",
        DEPLOYMENT_DOCS,
        ' "EventsIdentityIssuer=https://sts.windows.net/$tenantId/"',
        "",
        manual,
        "missing ['EventsIdentityIssuer']",
    ),
    Mutation(
        "deployment docs: presence at the GA API version",
        DEPLOYMENT_DOCS,
        "--api-version 2025-08-01-preview",
        "--api-version 2024-03-01",
        manual,
        "the presence block uses API version '2024-03-01'",
    ),
    Mutation(
        "deployment docs: presence without leaves",
        DEPLOYMENT_DOCS,
        '{"eventNames": ["joined", "left"]}',
        '{"eventNames": ["joined"]}',
        manual,
        "not the template's presence events",
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


def test_the_event_handler_url_follows_the_events_functions_route(app_copy: Path) -> None:
    """Once the events function exists, its function.json's route is the one the hub must call."""
    assert events(app_copy) == []
    folder = app_copy / "events"
    folder.mkdir(exist_ok=True)
    trigger = {"type": "httpTrigger", "direction": "in", "name": "req", "authLevel": "anonymous", "route": "hooks/ws"}
    (folder / "function.json").write_text(json.dumps({"bindings": [trigger]}))
    assert any(
        "expected 'https://${functionApp.properties.defaultHostName}/api/hooks/ws'" in p for p in events(app_copy)
    )


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
