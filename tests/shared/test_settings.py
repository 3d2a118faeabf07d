import pytest

from shared.errors import ConfigurationError, NotFound
from shared.settings import IdempotencySettings, load_idempotency_settings, load_settings

KEY = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789ABCDEFGH"
BASE = {"WebPubSubConnectionString": f"Endpoint=http://localhost;Port=8080;AccessKey={KEY};", "WebPubSubHub": "chat"}


def test_defaults() -> None:
    settings = load_settings(BASE)
    assert settings.default_hub == "chat"
    assert settings.allowed_hubs == ("chat",)
    assert settings.token_minutes == 60
    assert not settings.allow_client_user_id
    assert not settings.trust_app_service_auth
    assert not settings.require_user
    assert settings.roles == ()
    assert settings.allowed_groups == ()
    assert settings.service.connection is not None


def test_identity_based_access_needs_only_the_endpoint() -> None:
    settings = load_settings({"WebPubSubEndpoint": "https://x.webpubsub.azure.com/", "WebPubSubHub": "chat"})
    assert settings.service.connection is None
    assert settings.service.endpoint == "https://x.webpubsub.azure.com"


def test_hubs_resolve_case_insensitively_from_the_allow_list() -> None:
    settings = load_settings({**BASE, "WebPubSubAllowedHubs": "lobby, Games"})
    assert settings.resolve_hub(None) == "chat"
    assert settings.resolve_hub("games") == "games"
    assert settings.resolve_hub("CHAT") == "CHAT"
    with pytest.raises(NotFound, match="WebPubSubAllowedHubs"):
        settings.resolve_hub("other")


def test_group_patterns() -> None:
    settings = load_settings({**BASE, "NegotiateAllowedGroups": "lobby,room-*"})
    assert settings.group_allowed("lobby")
    assert settings.group_allowed("room-1")
    assert not settings.group_allowed("lobby2")
    assert not settings.group_allowed("room")


@pytest.mark.parametrize(
    ("overrides", "setting"),
    [
        ({"WebPubSubConnectionString": "", "WebPubSubEndpoint": ""}, "WebPubSubConnectionString"),
        ({"WebPubSubHub": ""}, "WebPubSubHub"),
        ({"WebPubSubHub": "1bad"}, "WebPubSubHub"),
        ({"WebPubSubAllowedHubs": "ok,not ok"}, "WebPubSubAllowedHubs"),
        ({"NegotiateTokenMinutes": "0"}, "NegotiateTokenMinutes"),
        ({"NegotiateTokenMinutes": "1441"}, "NegotiateTokenMinutes"),
        ({"NegotiateTokenMinutes": "ten"}, "NegotiateTokenMinutes"),
        ({"NegotiateAllowClientUserId": "maybe"}, "NegotiateAllowClientUserId"),
        ({"NegotiateTrustAppServiceAuth": "yes please"}, "NegotiateTrustAppServiceAuth"),
        ({"NegotiateRequireUser": "2"}, "NegotiateRequireUser"),
        ({"ActionsDeadlineSeconds": "0"}, "ActionsDeadlineSeconds"),
        ({"ActionsDeadlineSeconds": "101"}, "ActionsDeadlineSeconds"),
        ({"WebPubSubConnectionString": "Endpoint=nope;AccessKey=" + KEY}, "WebPubSubConnectionString"),
        ({"WebPubSubConnectionString": "", "WebPubSubEndpoint": "not a url"}, "WebPubSubEndpoint"),
    ],
)
def test_bad_settings_name_the_setting(overrides: dict, setting: str) -> None:
    with pytest.raises(ConfigurationError) as raised:
        load_settings({**BASE, **overrides})
    assert setting in raised.value.message
    assert KEY not in raised.value.message


@pytest.mark.parametrize(
    ("raw", "expected"), [("true", True), ("TRUE", True), ("1", True), ("false", False), ("", False)]
)
def test_booleans(raw: str, expected: bool) -> None:
    assert load_settings({**BASE, "NegotiateRequireUser": raw}).require_user is expected


def test_service_client_reads_proxies_from_the_environment_only_when_one_is_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from shared.service import PROXY_VARIABLES, client_options

    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    assert client_options()["use_env_settings"] is False
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    assert client_options()["use_env_settings"] is True
    assert client_options()["read_timeout"] == 4


def test_idempotency_keys_stay_in_memory_unless_storage_is_set() -> None:
    assert load_idempotency_settings({}) == IdempotencySettings()
    assert not load_idempotency_settings({"AzureWebJobsStorage": "  "}).uses_table
    by_identity = load_idempotency_settings({"AzureWebJobsStorage__accountName": "myaccount"})
    assert by_identity.table_endpoint == "https://myaccount.table.core.windows.net" and by_identity.uses_table
    by_uri = load_idempotency_settings(
        {"AzureWebJobsStorage__tableServiceUri": "https://x.table.core.windows.net/", "IdempotencyMinutes": "5"}
    )
    assert load_idempotency_settings({"IdempotencyMemoryKeys": "250"}).memory_keys == 250
    assert (by_uri.table_endpoint, by_uri.minutes, by_uri.table) == (
        "https://x.table.core.windows.net",
        5,
        "IdempotencyKeys",
    )


@pytest.mark.parametrize(
    ("overrides", "setting"),
    [
        ({"IdempotencyMinutes": "0"}, "IdempotencyMinutes"),
        ({"IdempotencyMinutes": "sixty"}, "IdempotencyMinutes"),
        ({"IdempotencyTable": "no-dashes"}, "IdempotencyTable"),
        ({"IdempotencyTable": "ab"}, "IdempotencyTable"),
        ({"IdempotencyMemoryKeys": "0"}, "IdempotencyMemoryKeys"),
        ({"IdempotencyMemoryKeys": "1e5"}, "IdempotencyMemoryKeys"),
        ({"AzureWebJobsStorage__accountName": "Not An Account"}, "AzureWebJobsStorage__accountName"),
        ({"AzureWebJobsStorage__tableServiceUri": "ftp://x"}, "AzureWebJobsStorage__tableServiceUri"),
    ],
)
def test_bad_idempotency_settings_name_the_setting(overrides: dict, setting: str) -> None:
    with pytest.raises(ConfigurationError) as raised:
        load_idempotency_settings(overrides)
    assert setting in raised.value.message


def test_user_placeholder_in_groups_and_roles() -> None:
    settings = load_settings(
        {
            **BASE,
            "NegotiateAllowedGroups": "user-{userId},room-*",
            "NegotiateRoles": "webpubsub.sendToGroup.user-{userId},webpubsub.joinLeaveGroups.room-*",
        }
    )
    assert settings.group_allowed("user-alice", "alice")
    assert not settings.group_allowed("user-bob", "alice")
    assert settings.group_allowed("room-alice-1", "alice")
    assert not settings.group_allowed("user-a", "*")  # a '*' in the user id is taken literally
    assert settings.group_allowed("user-*", "*")
    assert not settings.group_allowed("user-", None)
    assert not settings.group_allowed("user-{userId}", None)
    assert settings.group_allowed("team", "alice", claimed=("team",))
    assert settings.roles_for("alice") == ("webpubsub.sendToGroup.user-alice", "webpubsub.joinLeaveGroups.room-*")
    assert settings.roles_for(None) == ("webpubsub.joinLeaveGroups.room-*",)


def test_sign_in_settings() -> None:
    settings = load_settings(
        {**BASE, "NegotiateJwtIssuer": "https://login.example.com/t/v2.0", "NegotiateJwtAudience": "a, b"}
    )
    assert settings.bearer is not None
    assert settings.bearer.audiences == ("a", "b")
    assert settings.bearer.algorithms == ("RS256", "ES256")
    assert settings.bearer.user_id_claim == "sub"
    assert settings.verified_user_source
    assert not load_settings(BASE).verified_user_source


def test_the_user_placeholder_is_never_part_of_a_prefix_entry() -> None:
    """With ``room-{userId}-*`` user ``a`` would match ``room-a-b-1``, a room of user ``a-b``."""
    for entry in ("room-{userId}-*", "{userId}*", "user-{userId}"):
        environ = {**BASE, "NegotiateAllowedGroups": f"lobby,{entry}"}
        if entry.endswith("*"):
            with pytest.raises(ConfigurationError, match="NegotiateAllowedGroups"):
                load_settings(environ)
        else:
            assert not load_settings(environ).group_allowed("user-a-b", "a")


def test_the_user_id_is_a_literal_in_wildcard_group_roles() -> None:
    """The service's patterns: ``?`` and ``*`` match, a backslash escapes a backslash, ``*`` or ``?``."""
    roles = (
        "webpubsub.joinLeaveGroups.user-{userId}.*,webpubsub.sendToGroups.{userId}-**,webpubsub.sendToGroup.u-{userId}"
    )
    settings = load_settings({**BASE, "NegotiateRoles": roles})
    assert settings.roles_for("*") == (
        r"webpubsub.joinLeaveGroups.user-\*.*",
        r"webpubsub.sendToGroups.\*-**",
        "webpubsub.sendToGroup.u-*",  # one exact group: nothing to escape
    )
    assert settings.roles_for(r"a\b?**") == (
        r"webpubsub.joinLeaveGroups.user-a\\b\?\*\*.*",
        r"webpubsub.sendToGroups.a\\b\?\*\*-**",
        r"webpubsub.sendToGroup.u-a\b?**",
    )


@pytest.mark.parametrize(
    "issuer",
    [
        "http://login.example.com/tenant",
        "http://localhost.evil.example/tenant",
        "http://127.0.0.1.nip.io/tenant",
        "http://127.0.0.1@evil.example/tenant",
        "http://evil.example@127.0.0.1/tenant",
        "https://user:secret@login.example.com/tenant",
        "http://[::1]:8080/tenant",
        "http://0.0.0.0/tenant",
        "http://localhost\\@evil.example/",
        "ftp://localhost/tenant",
        "file:///etc/passwd",
        "//login.example.com/tenant",
        "login.example.com",
    ],
)
def test_an_issuer_url_must_be_https_or_this_machine(issuer: str) -> None:
    environ = {**BASE, "NegotiateJwtIssuer": issuer, "NegotiateJwtAudience": "a"}
    with pytest.raises(ConfigurationError, match="NegotiateJwtIssuer") as raised:
        load_settings(environ)
    assert issuer not in raised.value.message


@pytest.mark.parametrize(
    "issuer", ["https://login.example.com/t/v2.0", "http://localhost:7071/x", "http://127.0.0.1/x"]
)
def test_secure_issuer_urls(issuer: str) -> None:
    settings = load_settings({**BASE, "NegotiateJwtIssuer": issuer, "NegotiateJwtAudience": "a"})
    assert settings.bearer is not None and settings.bearer.issuer == issuer
