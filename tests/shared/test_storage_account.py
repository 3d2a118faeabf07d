"""Where the app's storage account is, as a pure rule (both stores read it this one way)."""

import pytest

from shared.errors import ConfigurationError
from shared.storage_account import storage_connection_string, storage_endpoint


@pytest.mark.parametrize("service", ["table", "queue"])
def test_identity_based_endpoints_come_from_the_account_name_or_the_service_uri(service: str) -> None:
    assert storage_endpoint({"AzureWebJobsStorage__accountName": "acct1"}, service) == (
        f"https://acct1.{service}.core.windows.net"
    )
    uri = {f"AzureWebJobsStorage__{service}ServiceUri": f"https://x.{service}.core.windows.net/"}
    assert storage_endpoint({**uri, "AzureWebJobsStorage__accountName": "ignored"}, service) == (
        f"https://x.{service}.core.windows.net"
    )
    assert storage_endpoint({}, service) is None


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"AzureWebJobsStorage__accountName": "Not An Account"}, "AzureWebJobsStorage__accountName"),
        ({"AzureWebJobsStorage__tableServiceUri": "ftp://x"}, "AzureWebJobsStorage__tableServiceUri"),
    ],
)
def test_a_bad_value_names_its_setting(env: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigurationError, match=named):
        storage_endpoint(env, "table")


def test_a_blank_connection_string_is_none() -> None:
    assert storage_connection_string({"AzureWebJobsStorage": "  "}) is None
    assert storage_connection_string({"AzureWebJobsStorage": "UseDevelopmentStorage=true"}) == (
        "UseDevelopmentStorage=true"
    )


def test_a_connection_string_wins_and_the_identity_settings_beside_it_are_not_read() -> None:
    env = {
        "AzureWebJobsStorage": "UseDevelopmentStorage=true",
        "AzureWebJobsStorage__accountName": "Not An Account",
        "AzureWebJobsStorage__tableServiceUri": "ftp://x",
    }
    assert storage_endpoint(env, "table") is None
    assert storage_endpoint(env, "queue") is None
