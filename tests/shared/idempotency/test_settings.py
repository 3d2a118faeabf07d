import pytest

from shared.errors import ConfigurationError
from shared.idempotency.settings import IdempotencySettings, load_idempotency_settings


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
