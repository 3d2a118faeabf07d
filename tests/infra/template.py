"""The azd template as data: both Bicep files parsed by a real Bicep parser, and the checks that
hold it to Microsoft's published resource types, role table and Flex Consumption facts.

Each check takes a parsed ``Template`` and returns a list of problems (empty when sound), so the
same check runs on the real template and on mutated copies that must fail it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from pycep import BicepParser

VENDOR = Path(__file__).resolve().parent / "vendor"
DECLARATION_KEYWORDS = frozenset({"parent", "scope", "dependsOn"})  # Bicep syntax, not resource properties
HUB_TYPE = "Microsoft.SignalRService/webPubSub/hubs"
EVENTS_FUNCTION = "events"  # the hub's event handler: the function folder, and its route by default
# The system events an event handler can be given (Microsoft's event handler docs); the events function
# needs `connect`, whose answer sets the connection state its later events are checked against.
SERVICE_SYSTEM_EVENTS = frozenset({"connect", "connected", "disconnected"})
PRESENCE_EVENT_NAMES = ["joined", "left"]
# What the events function reads that the template sets (names from the events branch's shared/events/settings.py).
EVENTS_SETTINGS = (
    "EventsIdentityIssuer",
    "EventsIdentityAudience",
    "EventsIdentityObjectId",
    "EventsQueueName",
    "EventsQueueEvents",
    "EventsPresenceGroups",
)
# v1 access tokens, which managed identities get for an audience with no app registration of its own,
# name the tenant's sts.windows.net authority as their issuer.
EVENTS_TOKEN_ISSUER = "https://sts.windows.net/${tenant().tenantId}/"
QUEUE_NAME = re.compile(r"[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9])){1,61}[a-z0-9]")  # Microsoft.Storage queues@2023-05-01


@cache
def vendored(name: str) -> Any:
    return json.loads((VENDOR / name).read_text())


@dataclass(frozen=True)
class Resource:
    symbol: str
    type: str
    api_version: str
    body: Mapping[str, Any]
    conditional: bool
    condition: str | None = None  # rendered, e.g. ``!groupPresenceEvents``

    @property
    def versioned_type(self) -> str:
        return f"{self.type}@{self.api_version}"


@dataclass(frozen=True)
class RoleAssignment:
    symbol: str
    scope: str
    principal: str
    principal_type: str
    role_id: str | None


@dataclass(frozen=True)
class Template:
    """``main.bicep`` and ``resources.bicep`` as pycep parses them, plus the azd parameters file."""

    main: Mapping[str, Any]
    module: Mapping[str, Any]
    parameters_file: Mapping[str, Any]
    events_url: str  # what the hub's event handler URL must be: the events function's route on the app's host

    @classmethod
    def load(cls, root: Path) -> Template:
        parser = BicepParser()
        infra = root / "infra"
        return cls(
            main=parser.parse(file_path=infra / "main.bicep"),
            module=parser.parse(file_path=infra / "resources.bicep"),
            parameters_file=json.loads((infra / "main.parameters.json").read_text()),
            events_url=_events_url(root),
        )

    def resources(self) -> Iterator[Resource]:
        for document in (self.main, self.module):
            for symbol, declaration in document["resources"].items():
                config = declaration["config"]
                conditional = "condition" in config
                yield Resource(
                    symbol=symbol,
                    type=declaration["type"],
                    api_version=declaration["api_version"],
                    body=config["config"] if conditional else config,
                    conditional=conditional,
                    condition=render(config["condition"]) if conditional else None,
                )

    def resource(self, symbol: str) -> Resource:
        return next(resource for resource in self.resources() if resource.symbol == symbol)

    def symbols(self) -> set[str]:
        names: set[str] = set()
        for document in (self.main, self.module):
            for section in ("parameters", "variables", "resources", "modules"):
                names.update(document.get(section) or {})
        return names

    def variable(self, name: str) -> Any:
        return self.module["variables"][name]["value"]

    def literal(self, value: Any) -> Any:
        """The literal a value stands for (following variables), or None for a parameter or expression.

        pycep writes a reference to a symbol as the bare symbol name, so a string equal to a declared
        symbol is a reference, not a literal.
        """
        if isinstance(value, str):
            if value in (self.module.get("variables") or {}):
                return self.literal(self.variable(value))
            if value in self.symbols() or "${" in value:
                return None
            return value
        if isinstance(value, bool | int):
            return value
        return None

    def app_settings(self) -> dict[str, Any]:
        site = self.resource("functionApp").body
        pairs = site["properties"]["siteConfig"]["appSettings"]
        return {pair["name"]: pair["value"] for pair in pairs}

    def role_assignments(self) -> list[RoleAssignment]:
        assignments = []
        for resource in self.resources():
            if resource.type != "Microsoft.Authorization/roleAssignments":
                continue
            properties = resource.body["properties"]
            definition = properties["roleDefinitionId"].get("function", {})
            role_id = None
            if definition.get("type") == "subscription_resource_id":
                arguments = definition["parameters"]
                if arguments["resource_type"] == "Microsoft.Authorization/roleDefinitions":
                    role_id = self.literal(arguments["resource_name_1"])
            assignments.append(
                RoleAssignment(
                    symbol=resource.symbol,
                    scope=render(resource.body.get("scope")),
                    principal=render(properties["principalId"]),
                    principal_type=render(properties["principalType"]),
                    role_id=role_id,
                )
            )
        return assignments


def _events_url(root: Path) -> str:
    """``https://<the app's host>/<routePrefix>/<the events function's route>``, from host.json and, once the
    function exists, its function.json (the route defaults to the folder's name)."""
    host = json.loads((root / "host.json").read_text())
    prefix = at(host, "extensions.http.routePrefix")
    route = EVENTS_FUNCTION
    function_json = root / EVENTS_FUNCTION / "function.json"
    if function_json.exists():
        bindings = json.loads(function_json.read_text())["bindings"]
        trigger = next(binding for binding in bindings if binding["type"] == "httpTrigger")
        route = trigger.get("route", EVENTS_FUNCTION)
    path = "/".join(part for part in ("api" if prefix is None else prefix, route) if part)
    return "https://${functionApp.properties.defaultHostName}/" + path


def render(expression: Any) -> str:
    """A readable form of a pycep expression: ``identity.properties.clientId``, ``guid(...)``."""
    if isinstance(expression, dict) and "operator" in expression:
        operator = expression["operator"]
        if operator["type"] == "property_accessor":
            operands = operator["operands"]
            return f"{render(operands['operand_1'])}.{render(operands['operand_2'])}"
        if operator["type"] == "not":
            return "!" + render(operator["operands"]["bool_value"])
        return f"<{operator['type']}>"
    if isinstance(expression, dict) and "function" in expression:
        function = expression["function"]
        arguments = ", ".join(render(value) for value in function["parameters"].values() if value is not None)
        return f"{function['type']}({arguments})"
    return str(expression)


def at(body: Mapping[str, Any], path: str) -> Any:
    """The value at a dotted path, or None when any step is missing."""
    value: Any = body
    for step in path.split("."):
        if not isinstance(value, Mapping) or step not in value:
            return None
        value = value[step]
    return value


def is_expression(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and ("operator" in value or "function" in value)


# ---------------------------------------------------------------------------------------------
# Checks


def schema_problems(template: Template) -> list[str]:
    """Every resource type and API version is in the snapshot; every property name written exists
    there; every literal for an enumerated property is one of the values Microsoft names."""
    snapshot = vendored("resource_types.json")
    problems: list[str] = []
    for resource in template.resources():
        top_level = snapshot["resources"].get(resource.versioned_type)
        if top_level is None:
            problems.append(f"{resource.symbol}: {resource.versioned_type} is not in the vendored snapshot")
            continue
        body = {key: value for key, value in resource.body.items() if key not in DECLARATION_KEYWORDS}
        _check_object(template, body, top_level, resource.symbol, problems)
    return problems


def _check_object(
    template: Template, value: Mapping[str, Any], fields: Mapping[str, Any], path: str, problems: list[str]
) -> None:
    for key, item in value.items():
        if key not in fields:
            problems.append(f"{path}.{key}: no such property (known: {', '.join(sorted(fields))})")
            continue
        _check_value(template, item, fields[key], f"{path}.{key}", problems)


def _check_value(template: Template, value: Any, kind: Any, path: str, problems: list[str]) -> None:
    types = vendored("resource_types.json")["types"]
    if is_expression(value):
        return
    if isinstance(kind, str) and isinstance(types.get(kind), list):  # a named list of values
        kind = types[kind]
    if isinstance(kind, list):
        literal = template.literal(value)
        if literal is not None and literal not in kind:
            problems.append(f"{path}: {literal!r} is not one of {kind}")
    elif kind in ("object", "any", "array"):
        return
    elif kind == "bool" or kind == "int":
        literal = template.literal(value)
        expected = bool if kind == "bool" else int
        if literal is not None and (type(literal) is not expected):
            problems.append(f"{path}: {literal!r} is not a {kind}")
    elif kind == "string":
        literal = template.literal(value)
        if literal is not None and not isinstance(literal, str):
            problems.append(f"{path}: {literal!r} is not a string")
    elif kind.endswith("[]"):
        if isinstance(value, list):
            for index, item in enumerate(value):
                _check_value(template, item, kind[:-2], f"{path}[{index}]", problems)
    elif kind.startswith("map<"):
        if isinstance(value, dict):
            for key, item in value.items():
                _check_value(template, item, kind[4:-1], f"{path}[{key}]", problems)
    elif isinstance(value, dict):
        _check_object(template, value, types[kind], path, problems)
    elif template.literal(value) is not None:
        problems.append(f"{path}: a literal where an object ({kind}) belongs")


def role_problems(template: Template) -> list[str]:
    """Each role id is an Azure built-in role, and the identity holds, by role name, the role every
    storage endpoint setting and Application Insights need, Web PubSub Service Owner, and the right to
    send to the events queue."""
    roles = vendored("builtin_roles.json")
    facts = vendored("flex_consumption.json")
    names_by_id = {role_id: name for name, role_id in roles.items()}
    problems: list[str] = []
    granted: set[tuple[str, str, str]] = set()
    for assignment in template.role_assignments():
        name = names_by_id.get(assignment.role_id or "")
        if name is None:
            problems.append(f"{assignment.symbol}: role id {assignment.role_id!r} is not an Azure built-in role")
            continue
        granted.add((assignment.principal, assignment.scope, name))
        if (
            assignment.principal == "identity.properties.principalId"
            and assignment.principal_type != "ServicePrincipal"
        ):
            problems.append(f"{assignment.symbol}: a managed identity is a ServicePrincipal")
    identity = "identity.properties.principalId"
    needed = {
        (identity, "appInsights", facts["applicationInsightsRole"]),
        (identity, "webPubSub", "Web PubSub Service Owner"),
        (identity, "eventsQueue", "Storage Queue Data Message Sender"),
    }
    for setting in template.app_settings():
        for role in facts["storageEndpointRoles"].get(setting, []):
            needed.add((identity, "storage", role))
    needed.add(("principalId", "webPubSub", "Web PubSub Service Owner"))
    for principal, scope, role in sorted(needed - granted):
        problems.append(f"{principal} lacks {role!r} on {scope}")
    return problems


def settings_problems(template: Template) -> list[str]:
    """App settings use the official identity-based names, name no setting Flex Consumption
    refuses, and carry no connection string."""
    facts = vendored("flex_consumption.json")
    settings = template.app_settings()
    problems: list[str] = []
    official = set(facts["hostStorageSettings"]) | set(facts["applicationInsightsSettings"])
    for name in settings:
        if name.startswith(("AzureWebJobsStorage", "APPLICATIONINSIGHTS_")) and name not in official:
            problems.append(f"{name}: not a setting the Functions host or Application Insights reads")
        if name in facts["flexConsumptionRefusedSettings"]:
            problems.append(f"{name}: Flex Consumption refuses this setting")
    required = {
        "AzureWebJobsStorage__credential": "managedidentity",
        "AzureWebJobsStorage__clientId": "identity.properties.clientId",
        "AzureWebJobsStorage__accountName": "storage.name",
        "AZURE_CLIENT_ID": "identity.properties.clientId",
        "APPLICATIONINSIGHTS_AUTHENTICATION_STRING": "ClientId=${identity.properties.clientId};Authorization=AAD",
        "WebPubSubEndpoint": "https://${webPubSub.properties.hostName}",
    }
    for name, expected in required.items():
        if name not in settings:
            problems.append(f"{name}: missing")
        elif render(settings[name]) != expected:
            problems.append(f"{name}: {render(settings[name])!r}, expected {expected!r}")
    for service in ("blob", "queue", "table"):
        name = f"AzureWebJobsStorage__{service}ServiceUri"
        expected = f"storage.properties.primaryEndpoints.{service}"
        if name in settings and render(settings[name]) != expected:
            problems.append(f"{name}: points at {render(settings[name])!r}, not the {service} endpoint")
    return problems


def policy_problems(template: Template) -> list[str]:
    """The security and hosting choices docs/deployment.md promises, read from the parsed template."""
    facts = vendored("flex_consumption.json")
    expectations = {
        ("storage", "properties.allowSharedKeyAccess"): {False},
        ("storage", "properties.allowBlobPublicAccess"): {False},
        ("storage", "properties.minimumTlsVersion"): {"TLS1_2", "TLS1_3"},
        ("storage", "properties.supportsHttpsTrafficOnly"): {True},
        ("appInsights", "properties.DisableLocalAuth"): {True},
        ("webPubSub", "properties.disableLocalAuth"): {True},
        ("webPubSub", "identity.type"): {"SystemAssigned"},
        ("plan", "sku.tier"): {"FlexConsumption"},
        ("plan", "sku.name"): {"FC1"},
        ("functionApp", "kind"): {"functionapp,linux"},
        ("functionApp", "properties.httpsOnly"): {True},
        ("functionApp", "properties.siteConfig.minTlsVersion"): {"1.2", "1.3"},
        ("functionApp", "properties.functionAppConfig.runtime.name"): {"python"},
        ("functionApp", "properties.functionAppConfig.deployment.storage.authentication.type"): {
            "UserAssignedIdentity"
        },
        ("functionApp", "identity.type"): {"UserAssigned"},
        ("ftpPublishing", "name"): {"ftp"},
        ("ftpPublishing", "properties.allow"): {False},
        ("scmPublishing", "name"): {"scm"},
        ("scmPublishing", "properties.allow"): {False},
    }
    problems: list[str] = []
    for (symbol, path), allowed in expectations.items():
        try:
            value = template.literal(at(template.resource(symbol).body, path))
        except StopIteration:
            problems.append(f"{symbol}: resource missing")
            continue
        if value not in allowed:
            problems.append(f"{symbol}.{path} is {value!r}, expected one of {sorted(allowed, key=str)}")
    for symbol in ("ftpPublishing", "scmPublishing"):
        if any(r.symbol == symbol and r.body.get("parent") != "functionApp" for r in template.resources()):
            problems.append(f"{symbol}: must apply to the function app")
    deployment = at(
        template.resource("functionApp").body, "properties.functionAppConfig.deployment.storage.authentication"
    )
    if render((deployment or {}).get("userAssignedIdentityResourceId")) != "identity.id":
        problems.append("deployment storage must be reached with the app's user-assigned identity")
    allowed_locations = _decorator(template.main["parameters"]["location"], "allowed")
    if allowed_locations != facts["flexConsumptionRegions"]:
        problems.append(f"location @allowed is {allowed_locations}, not the Flex Consumption regions")
    problems.extend(_principal_type_problems(template))
    return problems


def _decorator(parameter: Mapping[str, Any], kind: str) -> Any:
    return next((d["argument"] for d in parameter["decorators"] if d["type"] == kind), None)


def _principal_type_problems(template: Template) -> list[str]:
    problems = []
    main_parameter = template.main["parameters"].get("principalType")
    if main_parameter is None or not {"User", "ServicePrincipal"} <= set(_decorator(main_parameter, "allowed") or []):
        problems.append("main.bicep needs a principalType parameter allowing User and ServicePrincipal")
    if template.main["modules"]["resources"]["config"]["params"].get("principalType") != "principalType":
        problems.append("main.bicep must pass principalType to resources.bicep")
    mapped = template.parameters_file["parameters"].get("principalType", {}).get("value", "")
    if not mapped.startswith("${AZURE_PRINCIPAL_TYPE"):
        problems.append("main.parameters.json must map principalType to azd's AZURE_PRINCIPAL_TYPE")
    developer = next((a for a in template.role_assignments() if a.principal == "principalId"), None)
    if developer is None or developer.principal_type != "principalType":
        problems.append("the deploying principal's role assignment must use the principalType parameter")
    return problems


# ---------------------------------------------------------------------------------------------
# The hub's event handler: the events function, and what it reads


def events_problems(template: Template) -> list[str]:
    """The default hub sends its events to the ``events`` function with a token of the Web PubSub
    identity, as one of two declarations exactly one of which deploys: the GA API version, or (parameter
    ``groupPresenceEvents``) the preview one that adds group presence events. The app settings name what
    the function checks that token against, and the queue it writes to."""
    problems: list[str] = []
    settings = template.app_settings()
    hubs = [resource for resource in template.resources() if resource.type == HUB_TYPE]
    plain = [hub for hub in hubs if not _takes_presence_events(hub)]
    presence = [hub for hub in hubs if _takes_presence_events(hub)]
    for kind, found, condition in (
        ("without group presence events", plain, "!groupPresenceEvents"),
        ("with group presence events", presence, "groupPresenceEvents"),
    ):
        if len(found) != 1:
            problems.append(f"{len(found)} hub declarations at an API version {kind}, expected 1")
        for hub in found:
            if hub.condition != condition:
                problems.append(f"{hub.symbol}: deployed if {hub.condition!r}, expected if {condition!r}")
    for hub in plain:
        if "preview" in hub.api_version:
            problems.append(f"{hub.symbol}: the default hub uses a preview API version ({hub.api_version})")
    handlers = []
    for hub in hubs:
        hub_problems, handler = _event_handler(template, hub, settings)
        problems.extend(hub_problems)
        handlers.append(handler)
    if len({json.dumps(handler, sort_keys=True) for handler in handlers}) > 1:
        problems.append("the hub declarations configure different event handlers")
    problems.extend(_presence_parameter_problems(template))
    problems.extend(_events_settings_problems(template, settings))
    return problems


def _takes_presence_events(hub: Resource) -> bool:
    """Whether Microsoft's snapshot of this API version has ``groupPresenceEvents`` on an event handler."""
    types = vendored("resource_types.json")["types"]
    properties = vendored("resource_types.json")["resources"].get(hub.versioned_type, {}).get("properties")
    handler = types.get(properties, {}).get("eventHandlers", "").removesuffix("[]")
    return "groupPresenceEvents" in types.get(handler, {})


def _event_handler(template: Template, hub: Resource, settings: Mapping[str, Any]) -> tuple[list[str], dict[str, Any]]:
    """One hub declaration's problems, and its event handler without the presence part (for comparing
    the two declarations)."""
    problems: list[str] = []
    body = hub.body
    if body.get("parent") != "webPubSub" or body.get("name") != "hubName":
        problems.append(f"{hub.symbol}: must be the hub named hubName (WebPubSubHub) of webPubSub")
    if template.literal(at(body, "properties.anonymousConnectPolicy")) != "deny":
        problems.append(f"{hub.symbol}: anonymousConnectPolicy must be 'deny' (clients connect with negotiate's token)")
    handlers = at(body, "properties.eventHandlers") or []
    if len(handlers) != 1:
        problems.append(f"{hub.symbol}: {len(handlers)} event handlers, expected the events function alone")
        return problems, {}
    handler = dict(handlers[0])
    url = handler.get("urlTemplate")
    if url != template.events_url:
        problems.append(f"{hub.symbol}: urlTemplate is {url!r}, expected {template.events_url!r}")
    if handler.get("userEventPattern") != "*":
        problems.append(f"{hub.symbol}: userEventPattern must be '*' (the function decides which events to queue)")
    system_events = handler.get("systemEvents") or []
    if "connect" not in system_events:
        problems.append(f"{hub.symbol}: systemEvents lacks 'connect'")
    for event in system_events:
        if event not in SERVICE_SYSTEM_EVENTS:
            problems.append(f"{hub.symbol}: {event!r} is not a system event ({sorted(SERVICE_SYSTEM_EVENTS)})")
    auth = handler.get("auth") or {}
    if template.literal(auth.get("type")) != "ManagedIdentity":
        problems.append(f"{hub.symbol}: the event handler's auth type must be 'ManagedIdentity'")
    audience = render(at(auth, "managedIdentity.resource"))
    if "EventsIdentityAudience" in settings and audience != render(settings["EventsIdentityAudience"]):
        problems.append(f"{hub.symbol}: the token audience {audience!r} is not EventsIdentityAudience")
    presence = handler.pop("groupPresenceEvents", None)
    if _takes_presence_events(hub):
        names = (presence or {}).get("eventNames")
        if names is None or sorted(names) != sorted(PRESENCE_EVENT_NAMES):
            problems.append(f"{hub.symbol}: groupPresenceEvents.eventNames is {names!r}, not {PRESENCE_EVENT_NAMES}")
    return problems, handler


def _presence_parameter_problems(template: Template) -> list[str]:
    problems = []
    parameter = template.main["parameters"].get("groupPresenceEvents")
    if parameter is None or parameter.get("type") != "bool" or parameter.get("default") is not False:
        problems.append("main.bicep needs a bool parameter groupPresenceEvents, false by default (a preview API)")
    if template.main["modules"]["resources"]["config"]["params"].get("groupPresenceEvents") != "groupPresenceEvents":
        problems.append("main.bicep must pass groupPresenceEvents to resources.bicep")
    if "groupPresenceEvents" not in (template.module.get("parameters") or {}):
        problems.append("resources.bicep must declare the groupPresenceEvents parameter")
    mapped = template.parameters_file["parameters"].get("groupPresenceEvents", {}).get("value", "")
    if not mapped.startswith("${WEBPUBSUB_GROUP_PRESENCE"):
        problems.append("main.parameters.json must map groupPresenceEvents to WEBPUBSUB_GROUP_PRESENCE")
    return problems


def _events_settings_problems(template: Template, settings: Mapping[str, Any]) -> list[str]:
    """The settings the events function reads: the token it accepts (issuer, audience, the Web PubSub
    identity's object id) and the queue, which must be in the AzureWebJobsStorage account."""
    problems = []
    expected = {
        "EventsIdentityObjectId": "webPubSub.identity.principalId",
        "EventsQueueName": "eventsQueue.name",
    }
    for name in EVENTS_SETTINGS:
        if name not in settings:
            problems.append(f"{name}: missing")
    for name, value in expected.items():
        if name in settings and render(settings[name]) != value:
            problems.append(f"{name}: {render(settings[name])!r}, expected {value!r}")
    if "EventsIdentityIssuer" in settings:
        issuer = settings["EventsIdentityIssuer"]
        issuer = template.variable(issuer) if issuer in (template.module.get("variables") or {}) else issuer
        if issuer != EVENTS_TOKEN_ISSUER:
            problems.append(f"EventsIdentityIssuer: {issuer!r}, expected {EVENTS_TOKEN_ISSUER!r}")
    queue = next((r for r in template.resources() if r.symbol == "eventsQueue"), None)
    if queue is None:
        return [*problems, "eventsQueue: resource missing"]
    service = next((r for r in template.resources() if r.symbol == queue.body.get("parent")), None)
    if service is None or service.type != "Microsoft.Storage/storageAccounts/queueServices":
        problems.append("eventsQueue: must be a queue of the storage account's queue service")
    elif service.body.get("parent") != render(settings.get("AzureWebJobsStorage__accountName")).removesuffix(".name"):
        problems.append("eventsQueue: must be in the AzureWebJobsStorage account")
    name = template.literal(queue.body.get("name"))
    if name is None or not QUEUE_NAME.fullmatch(name):
        problems.append(f"eventsQueue: {name!r} is not a literal storage queue name")
    return problems
