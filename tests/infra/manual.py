"""The manual ``az`` deployment of docs/deployment.md, parsed into commands and held to Microsoft's order for a
Flex Consumption app with a user-assigned identity (the azure-cli-samples script
``create-function-app-flex-plan-identities``) and to the azd template it must reproduce.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path

from tests.infra.template import HUB_TYPE, PRESENCE_EVENT_NAMES, Template, at, render, vendored

DEPLOYMENT_DOCS = "docs/deployment.md"
BLOCK_MARKER = "The same by hand with `az`"
PRESENCE_MARKER = "For group presence events (a preview"
ASSIGNMENT = re.compile(r"^(?P<name>[A-Za-z_]\w*)=(?P<value>.*)$")
SUBSTITUTION = re.compile(r"^\$\((?P<command>.*)\)$")
VARIABLE_USE = re.compile(r"\$\{?([A-Za-z_]\w*)")
PLACEHOLDER = re.compile(r"<[^<>\s]+>")
SHELL_VARIABLES = frozenset({"RANDOM"})
ALIASES = {"-n": "--name", "-g": "--resource-group", "-l": "--location", "-o": "--output"}


@dataclass(frozen=True)
class Command:
    """One command line of the block; ``assigns`` names the variable its output is stored in."""

    argv: tuple[str, ...]
    assigns: str | None = None
    options: dict[str, list[str]] = field(default_factory=dict, compare=False)

    @classmethod
    def parse(cls, argv: Sequence[str], assigns: str | None = None) -> Command:
        options: dict[str, list[str]] = {}
        current = None
        for token in argv:
            token = ALIASES.get(token, token)
            if token.startswith("--"):
                current = token
                options.setdefault(current, [])
            elif current is not None:
                options[current].append(token)
        return cls(tuple(argv), assigns, options)

    def starts(self, *words: str) -> bool:
        return self.argv[: len(words)] == words

    def option(self, name: str) -> str | None:
        values = self.options.get(name)
        return " ".join(values) if values else None


@dataclass(frozen=True)
class Script:
    commands: list[Command]
    assignments: dict[str, str]  # variable -> literal value (for plain assignments)
    problems: list[str]

    def find(self, predicate: Callable[[Command], bool]) -> list[int]:
        return [index for index, command in enumerate(self.commands) if predicate(command)]


def manual_block(document: str, marker: str = BLOCK_MARKER) -> str:
    """The ``sh`` block that follows the "by hand" sentence of docs/deployment.md (or another marker)."""
    start = document.index(marker)
    opening = document.index("```sh\n", start) + len("```sh\n")
    return document[opening : document.index("```", opening)]


def parse_script(text: str) -> Script:
    commands: list[Command] = []
    assignments: dict[str, str] = {}
    problems: list[str] = []
    defined = set(SHELL_VARIABLES)
    for number, line in enumerate(text.replace("\\\n", " ").splitlines(), start=1):
        words = shlex.split(line, comments=True)
        if not words:
            continue
        for placeholder in PLACEHOLDER.findall(" ".join(words)):
            problems.append(f"line {number}: placeholder {placeholder} left for the reader to fill")
        used = {name for word in words for name in VARIABLE_USE.findall(word)}
        for name in sorted(used - defined):
            problems.append(f"line {number}: ${name} is used before any line sets it")
        match = ASSIGNMENT.match(" ".join(words)) if len(words) == 1 or "=$(" in line else None
        if match is None:
            commands.append(Command.parse(words))
            continue
        name, value = match["name"], match["value"]
        substitution = SUBSTITUTION.match(value)
        if substitution:
            commands.append(Command.parse(shlex.split(substitution["command"]), assigns=name))
        else:
            assignments[name] = value
        defined.add(name)
    return Script(commands, assignments, problems)


def load_script(root: Path) -> Script:
    return parse_script(manual_block((root / DEPLOYMENT_DOCS).read_text()))


def load_presence_script(root: Path) -> Script:
    """The presence block, run after the main one: parsed with it, so that its variables are known."""
    document = (root / DEPLOYMENT_DOCS).read_text()
    main = manual_block(document)
    script = parse_script(main + manual_block(document, PRESENCE_MARKER))
    return Script(script.commands[len(parse_script(main).commands) :], script.assignments, script.problems)


def _settings_set(script: Script) -> dict[str, str]:
    settings: dict[str, str] = {}
    for command in script.commands:
        if command.starts("az", "functionapp", "config", "appsettings", "set"):
            for pair in command.options.get("--settings", []):
                name, _, value = pair.partition("=")
                settings[name] = value
    return settings


def _role_grants(script: Script) -> list[tuple[int, str, str]]:
    return [
        (index, command.option("--role") or "", command.option("--scope") or "")
        for index, command in enumerate(script.commands)
        if command.starts("az", "role", "assignment", "create")
    ]


def manual_problems(root: Path, template: Template) -> list[str]:
    """Microsoft's order (storage, identity, Blob Data Owner, function app, Monitoring Metrics
    Publisher, identity-based storage settings, connection string deleted, app settings,
    publish last), every flag the Flex Consumption identity path needs, and the same roles and
    settings as the azd template."""
    script = load_script(root)
    problems = list(script.problems)
    roles = vendored("builtin_roles.json")
    facts = vendored("flex_consumption.json")
    settings = _settings_set(script)
    grants = _role_grants(script)

    def first(description: str, predicate: Callable[[Command], bool]) -> int:
        found = script.find(predicate)
        if not found:
            problems.append(f"no command that {description}")
            return -1
        return found[0]

    def grant_of(role: str) -> Callable[[Command], bool]:
        return lambda c: c.starts("az", "role", "assignment", "create") and c.option("--role") == role

    storage_variable = script.assignments.get("storage")
    if storage_variable is None:
        problems.append("the storage account name is not kept in a variable named storage")
    steps = [
        (
            "creates the storage account named $storage without shared keys",
            lambda c: (
                c.starts("az", "storage", "account", "create")
                and c.option("--name") == "$storage"
                and c.option("--allow-shared-key-access") == "false"
            ),
        ),
        ("creates the identity", lambda c: c.starts("az", "identity", "create")),
        ("grants Storage Blob Data Owner", grant_of("Storage Blob Data Owner")),
        ("creates the function app", lambda c: c.starts("az", "functionapp", "create")),
        ("grants Monitoring Metrics Publisher", grant_of("Monitoring Metrics Publisher")),
        (
            "sets the identity-based AzureWebJobsStorage settings",
            lambda c: (
                c.starts("az", "functionapp", "config", "appsettings", "set")
                and any(pair.startswith("AzureWebJobsStorage__") for pair in c.options.get("--settings", []))
            ),
        ),
        (
            "deletes the AzureWebJobsStorage connection string",
            lambda c: (
                c.starts("az", "functionapp", "config", "appsettings", "delete")
                and c.options.get("--setting-names") == ["AzureWebJobsStorage"]
            ),
        ),
        (
            "sets the Web PubSub settings",
            lambda c: (
                c.starts("az", "functionapp", "config", "appsettings", "set")
                and any(pair.startswith("WebPubSubEndpoint=") for pair in c.options.get("--settings", []))
            ),
        ),
        ("publishes the app", lambda c: c.starts("func", "azure", "functionapp", "publish")),
    ]
    positions = [(description, first(description, predicate)) for description, predicate in steps]
    found = [(description, index) for description, index in positions if index >= 0]
    for (before, earlier), (after, later) in pairwise(found):
        if earlier > later:
            problems.append(f"the command that {after} comes before the one that {before}")
    if script.commands and not script.commands[-1].starts("func", "azure", "functionapp", "publish"):
        problems.append("publishing is not the last step")

    problems.extend(_function_app_problems(script, template))
    for index, role, scope in grants:
        command = script.commands[index]
        if role not in roles:
            problems.append(f"{role!r} is not an Azure built-in role")
        if command.option("--assignee-principal-type") != "ServicePrincipal":
            problems.append(f"{role}: a managed identity is granted as --assignee-principal-type ServicePrincipal")
        if command.option("--assignee-object-id") != "$principalId":
            problems.append(f"{role}: must be granted to the identity's principal id")
        if not scope.startswith("$"):
            problems.append(f"{role}: scope {scope!r} is not a resource id kept from an earlier command")
    granted = {role for _, role, _ in grants}
    template_roles = {_role_name(a.role_id) for a in template.role_assignments() if a.principal.startswith("identity.")}
    for role in sorted(template_roles - granted):
        problems.append(f"the template grants {role!r} but the manual path does not")
    for role in sorted(granted - template_roles):
        problems.append(f"the manual path grants {role!r} but the template does not")
    first_storage_setting = positions[5][1]
    for name in settings:
        for role in facts["storageEndpointRoles"].get(name, []):
            grant = [index for index, granted_role, _ in grants if granted_role == role]
            if not grant or (first_storage_setting >= 0 and grant[0] > first_storage_setting):
                problems.append(f"{name} is set before (or without) its role {role!r}")
    created_by_az = set(facts["applicationInsightsSettings"]) - {"APPLICATIONINSIGHTS_AUTHENTICATION_STRING"}
    expected_settings = set(template.app_settings()) - created_by_az - _off_by_default(template)
    if set(settings) != expected_settings:
        problems.append(
            f"settings differ from the template: missing {sorted(expected_settings - set(settings))}, "
            f"extra {sorted(set(settings) - expected_settings)}"
        )
    problems.extend(_local_auth_problems(script))
    problems.extend(_events_problems(script, template, settings))
    problems.extend(_presence_problems(root, template))
    return problems


def _off_by_default(template: Template) -> set[str]:
    """Settings whose template value is a parameter that is empty by default: features off until set,
    which the manual path leaves unset."""
    parameters = template.main["parameters"]
    return {
        name
        for name, value in template.app_settings().items()
        if isinstance(value, str) and value in parameters and parameters[value].get("default") == ""
    }


def _assigned_by(script: Script, variable: str, predicate: Callable[[Command], bool]) -> bool:
    return any(c.assigns == variable and predicate(c) for c in script.commands)


def _key_values(values: list[str]) -> list[tuple[str, str]]:
    return [(key, value) for key, _, value in (item.partition("=") for item in values)]


def _events_problems(script: Script, template: Template, settings: dict[str, str]) -> list[str]:
    """The template's events wiring, by hand: the Web PubSub identity, the hub's event handler (the
    events function's URL on the app's host, the same events, managed-identity auth for the same
    audience), the queue with its send-only role, and the settings the function checks tokens with."""
    problems: list[str] = []

    def index(description: str, predicate: Callable[[Command], bool]) -> int:
        found = script.find(predicate)
        if not found:
            problems.append(f"no command that {description}")
        return found[0] if found else -1

    created = index("creates the Web PubSub resource", lambda c: c.starts("az", "webpubsub", "create"))
    assigned = index(
        "gives Web PubSub its system-assigned identity",
        lambda c: c.starts("az", "webpubsub", "identity", "assign") and c.option("--identity") == "[system]",
    )
    app = index("creates the function app", lambda c: c.starts("az", "functionapp", "create"))
    hub_index = index("creates the hub", lambda c: c.starts("az", "webpubsub", "hub", "create"))
    if 0 <= assigned < created:
        problems.append("the Web PubSub identity is assigned before the resource exists")
    if hub_index >= 0 and (hub_index < assigned or hub_index < app):
        problems.append("the hub is created before the Web PubSub identity or the function app exists")
    lookups = {
        "wpsPrincipalId": lambda c: (
            c.starts("az", "webpubsub", "identity", "show") and c.option("--query") == "principalId"
        ),
        "tenantId": lambda c: c.starts("az", "account", "show") and c.option("--query") == "tenantId",
        "appHost": lambda c: c.starts("az", "functionapp", "show") and c.option("--query") == "defaultHostName",
        "queueId": lambda c: (
            c.starts("az", "resource", "show")
            and c.option("--resource-type") == "queues"
            and c.option("--query") == "id"
        ),
    }
    for variable, predicate in lookups.items():
        if not _assigned_by(script, variable, predicate):
            problems.append(f"${variable} is not looked up as the template's events wiring needs it")
    if hub_index >= 0:
        problems.extend(_hub_command_problems(script.commands[hub_index], template, settings))
    queue_name = settings.get("EventsQueueName")
    if not script.find(
        lambda c: (
            c.starts("az", "resource", "create")
            and c.option("--parent") == "storageAccounts/$storage/queueServices/default"
            and c.option("--resource-type") == "queues"
            and c.option("--name") == queue_name
        )
    ):
        problems.append(f"no command that creates the queue EventsQueueName names ({queue_name!r}) in $storage")
    template_queue = template.literal(template.resource("eventsQueue").body.get("name"))
    if queue_name != template_queue:
        problems.append(f"EventsQueueName is {queue_name!r}, the template's queue is {template_queue!r}")
    senders = [scope for _, role, scope in _role_grants(script) if role == "Storage Queue Data Message Sender"]
    if senders and senders != ["$queueId"]:
        problems.append(f"Storage Queue Data Message Sender is granted on {senders}, not on the queue ($queueId)")
    expected = {
        "EventsIdentityIssuer": "https://sts.windows.net/$tenantId/",
        "EventsIdentityObjectId": "$wpsPrincipalId",
        "EventsIdentityAudience": "$clientId",  # the template's default: the app identity's client id
    }
    for name, value in expected.items():
        if settings.get(name) != value:
            problems.append(f"{name} is set to {settings.get(name)!r}, expected {value!r}")
    return problems


def _hub_command_problems(command: Command, template: Template, settings: dict[str, str]) -> list[str]:
    problems = []
    hub = next(r for r in template.resources() if r.type == HUB_TYPE and r.condition == "!groupPresenceEvents")
    handler = at(hub.body, "properties.eventHandlers")[0]
    if command.option("--hub-name") != settings.get("WebPubSubHub"):
        problems.append(f"the hub created is {command.option('--hub-name')!r}, not WebPubSubHub")
    if command.option("--allow-anonymous") != "false":
        problems.append("the hub must deny anonymous connections (--allow-anonymous false)")
    pairs = _key_values(command.options.get("--event-handler", []))
    values: dict[str, list[str]] = {}
    for key, value in pairs:
        values.setdefault(key, []).append(value)
    url = template.events_url.replace("${functionApp.properties.defaultHostName}", "$appHost")
    expected = {
        "url-template": [url],
        "user-event-pattern": [handler["userEventPattern"]],
        "system-event": list(handler["systemEvents"]),
        "auth-type": [handler["auth"]["type"]],
        "auth-resource": [settings.get("EventsIdentityAudience", "")],
    }
    for key, wanted in expected.items():
        if values.get(key) != wanted:
            problems.append(f"--event-handler {key} is {values.get(key)}, expected {wanted}")
    for key in sorted(set(values) - set(expected)):
        problems.append(f"--event-handler {key} is not a key az webpubsub hub create reads")
    return problems


def _presence_problems(root: Path, template: Template) -> list[str]:
    """The preview block switches the same hub to the template's preview API version with the same
    presence events."""
    script = load_presence_script(root)
    problems = list(script.problems)
    preview = next(r for r in template.resources() if r.type == HUB_TYPE and r.condition == "groupPresenceEvents")
    updates = [c for c in script.commands if c.starts("az", "resource", "update")]
    if len(updates) != 1:
        return [*problems, f"the presence block has {len(updates)} az resource update commands, expected 1"]
    (update,) = updates
    if update.option("--api-version") != preview.api_version:
        problems.append(f"the presence block uses API version {update.option('--api-version')!r}, not the template's")
    if update.option("--ids") != "$wpsId/hubs/pubsub":
        problems.append("the presence block must update the hub it created ($wpsId/hubs/pubsub)")
    path, _, value = (update.option("--set") or "").partition("=")
    try:
        names = json.loads(value).get("eventNames") if path.endswith(".groupPresenceEvents") else None
    except ValueError:
        names = None
    if path != "properties.eventHandlers[0].groupPresenceEvents" or names != PRESENCE_EVENT_NAMES:
        problems.append(f"the presence block sets {update.option('--set')!r}, not the template's presence events")
    return problems


def _role_name(role_id: str | None) -> str:
    return next((name for name, known in vendored("builtin_roles.json").items() if known == role_id), str(role_id))


def _function_app_problems(script: Script, template: Template) -> list[str]:
    problems: list[str] = []
    creates = [c for c in script.commands if c.starts("az", "functionapp", "create")]
    if not creates:
        return problems
    create = creates[0]
    runtime = at(template.resource("functionApp").body, "properties.functionAppConfig.runtime")
    expected = {
        "--runtime": "python",
        "--runtime-version": runtime["version"],
        "--storage-account": "$storage",
        "--deployment-storage-auth-type": "UserAssignedIdentity",
        "--deployment-storage-auth-value": "$identityId",
        "--flexconsumption-location": "$location",
    }
    for flag, value in expected.items():
        if create.option(flag) != value:
            problems.append(f"az functionapp create {flag} is {create.option(flag)!r}, expected {value!r}")
    identity_lookup = [c for c in script.commands if c.assigns == "identityId"]
    if not identity_lookup or identity_lookup[0].option("--query") != "id":
        problems.append("$identityId must hold the identity's resource id (--query id)")
    for policy in ("ftp", "scm"):
        if not script.find(
            lambda c, policy=policy: (
                c.starts("az", "resource", "update")
                and c.option("--namespace") == "Microsoft.Web"
                and c.option("--resource-type") == "basicPublishingCredentialsPolicies"
                and c.option("--parent") == "sites/$app"
                and c.option("--name") == policy
                and c.option("--set") == "properties.allow=false"
            )
        ):
            problems.append(f"basic-auth publishing ({policy}) is not turned off")
    if render(runtime.get("name")) != "python":
        problems.append("the template's runtime is not python")
    return problems


def _local_auth_problems(script: Script) -> list[str]:
    problems = []
    for setting, what in (
        ("properties.disableLocalAuth=true", "Web PubSub"),
        ("properties.DisableLocalAuth=true", "Application Insights"),
    ):
        if not script.find(
            lambda c, setting=setting: c.starts("az", "resource", "update") and c.option("--set") == setting
        ):
            problems.append(f"{what} local auth is left on")
    return problems
