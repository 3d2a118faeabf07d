import pytest

from shared.connection_string import parse_connection_string
from shared.errors import ConfigurationError

KEY = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789ABCDEFGH"


@pytest.mark.parametrize(
    ("text", "endpoint"),
    [
        (f"Endpoint=https://x.webpubsub.azure.com;AccessKey={KEY};Version=1.0;", "https://x.webpubsub.azure.com"),
        (f"endpoint=https://X.webpubsub.azure.com/;accesskey={KEY};version=1.0", "https://X.webpubsub.azure.com"),
        (f"Endpoint=http://localhost;Port=8080;AccessKey={KEY};Version=1.0;", "http://localhost:8080"),
        (f"ENDPOINT=http://localhost:9999;PORT=8080;ACCESSKEY={KEY}", "http://localhost:8080"),
        (f" Endpoint = https://a.b ; AccessKey = {KEY} ; ClientEndpoint=https://c.d ;", "https://a.b"),
    ],
)
def test_accepts_the_forms_the_sdk_accepts(text: str, endpoint: str) -> None:
    info = parse_connection_string(text)
    assert info.endpoint == endpoint
    assert info.access_key == KEY


def test_access_key_keeps_base64_padding() -> None:
    info = parse_connection_string("Endpoint=https://a.b;AccessKey=abc+/def==;Version=1.0;")
    assert info.access_key == "abc+/def=="


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "no Endpoint"),
        (f"AccessKey={KEY}", "no Endpoint"),
        ("Endpoint=https://a.b;Version=1.0", "no AccessKey"),
        (f"Endpoint=https://a.b;AccessKey={KEY};garbage", "Key=Value"),
        (f"Endpoint=ftp://a.b;AccessKey={KEY}", "http:// or https://"),
        (f"Endpoint=a.b;AccessKey={KEY}", "http:// or https://"),
        (f"Endpoint=https://a.b;AccessKey={KEY};Port=99999", "Port"),
        (f"Endpoint=https://a.b;AccessKey={KEY};Port=abc", "Port"),
        (f"Endpoint=https://a.b;AccessKey={KEY};Port=¹", "Port"),
        (f"Endpoint=https://a.b:99999;AccessKey={KEY}", "port 1-65535"),
        (f"Endpoint=https://a.b:0;AccessKey={KEY}", "port 1-65535"),
        (f"Endpoint=https://a.b:80x;AccessKey={KEY}", "port 1-65535"),
        (f"Endpoint=https://a.b:-1;AccessKey={KEY}", "port 1-65535"),
        (f"Endpoint=http://[::1;AccessKey={KEY}", "with a host"),
        (f"Endpoint=http://a b;AccessKey={KEY}", "with a host"),
        (f"Endpoint=http://a<b>;AccessKey={KEY}", "with a host"),
        (f"Endpoint=https://admin:{KEY}@a.b;AccessKey={KEY}", "user name or password"),
        (f"Endpoint=https://admin@a.b;AccessKey={KEY};Port=443", "user name or password"),
    ],
)
def test_malformed_strings_name_the_setting_but_never_the_key(text: str, fragment: str) -> None:
    with pytest.raises(ConfigurationError) as raised:
        parse_connection_string(text)
    assert "WebPubSubConnectionString" in raised.value.message
    assert fragment in raised.value.message
    assert KEY not in raised.value.message


def test_repr_hides_the_key() -> None:
    info = parse_connection_string(f"Endpoint=https://a.b;AccessKey={KEY}")
    assert KEY not in repr(info)
    assert KEY not in str(info)
