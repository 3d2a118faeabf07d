"""The manual ``az`` deployment of docs/deployment.md, parsed into commands and held to Microsoft's order for a
Flex Consumption app with a user-assigned identity (the azure-cli-samples script
``create-function-app-flex-plan-identities``) and to the azd template it must reproduce.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path

from tests.infra.template import Template, at, render, vendored

DEPLOYMENT_DOCS = "docs/deployment.md"
BLOCK_MARKER = "The same by hand with `az`"
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


def manual_block(document: str) -> str:
    """The ``sh`` block that follows the "by hand" sentence of docs/deployment.md."""
    start = document.index(BLOCK_MARKER)
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
    expected_settings = set(template.app_settings()) - created_by_az
    if set(settings) != expected_settings:
        problems.append(
            f"settings differ from the template: missing {sorted(expected_settings - set(settings))}, "
            f"extra {sorted(set(settings) - expected_settings)}"
        )
    problems.extend(_local_auth_problems(script))
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
