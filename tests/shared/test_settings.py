import pytest

from shared.errors import ConfigurationError, NotFound
from shared.settings import load_settings

KEY = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789ABCDEFGH"
BASE = {"WebPubSubConnectionString": f"Endpoint=http://localhost;Port=8080;AccessKey={KEY};", "WebPubSubHub": "chat"}


def test_defaults() -> None:
    settings = load_settings(BASE)
    assert settings.hubs.default == "chat"
    assert settings.hubs.allowed == ("chat",)
    assert settings.token_minutes == 60
    assert not settings.sign_in.allow_client_user_id
    assert not settings.sign_in.trust_app_service_auth
    assert not settings.sign_in.require_user
    assert settings.grants.roles == ()
    assert settings.grants.allowed_groups == ()
    assert settings.service.connection is not None


def test_identity_based_access_needs_only_the_endpoint() -> None:
    settings = load_settings({"WebPubSubEndpoint": "https://x.webpubsub.azure.com/", "WebPubSubHub": "chat"})
    assert settings.service.connection is None
    assert settings.service.endpoint == "https://x.webpubsub.azure.com"


def test_hubs_resolve_case_insensitively_from_the_allow_list() -> None:
    settings = load_settings({**BASE, "WebPubSubAllowedHubs": "lobby, Games"})
    assert settings.hubs.resolve(None) == "chat"
    assert settings.hubs.resolve("games") == "games"
    assert settings.hubs.resolve("CHAT") == "CHAT"
    with pytest.raises(NotFound, match="WebPubSubAllowedHubs"):
        settings.hubs.resolve("other")


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
    assert load_settings({**BASE, "NegotiateRequireUser": raw}).sign_in.require_user is expected


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


def test_sign_in_settings() -> None:
    settings = load_settings(
        {**BASE, "NegotiateJwtIssuer": "https://login.example.com/t/v2.0", "NegotiateJwtAudience": "a, b"}
    )
    assert settings.sign_in.bearer is not None
    assert settings.sign_in.bearer.audiences == ("a", "b")
    assert settings.sign_in.bearer.algorithms == ("RS256", "ES256")
    assert settings.sign_in.bearer.user_id_claim == "sub"
    assert settings.sign_in.verified_user_source
    assert not load_settings(BASE).sign_in.verified_user_source


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
    assert settings.sign_in.bearer is not None and settings.sign_in.bearer.issuer == issuer


def test_settings_wire_the_group_policy() -> None:
    """The rule itself is tested in test_grants; here only that the settings feed it."""
    settings = load_settings({**BASE, "NegotiateAllowedGroups": "lobby", "NegotiateRoles": "r.{userId}"})
    assert settings.grants.group_allowed("lobby") and not settings.grants.group_allowed("other")
    assert settings.grants.roles_for("ann") == ("r.ann",)
    with pytest.raises(ConfigurationError, match="NegotiateAllowedGroups"):
        load_settings({**BASE, "NegotiateAllowedGroups": "room-{userId}-*"})
