"""local.settings.json: Values into the environment (never over it), Host for port, CORS and keys."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from devhost.local_settings import DEFAULT_PORT, SettingsError, apply_values, read_local_settings


def write(path: Path, document: object) -> Path:
    path.write_text(json.dumps(document) if not isinstance(document, str) else document)
    return path


def test_values_and_host_section(tmp_path: Path) -> None:
    settings = read_local_settings(
        write(
            tmp_path / "local.settings.json",
            {
                "IsEncrypted": False,
                "Values": {"A": "1", "B": "two"},
                "Host": {
                    "LocalHttpPort": 7999,
                    "CORS": "http://a.example, http://b.example",
                    "CORSCredentials": True,
                    "FunctionKey": "fk",
                    "MasterKey": "mk",
                },
            },
        )
    )
    assert settings.values == {"A": "1", "B": "two"}
    assert settings.port == 7999
    assert settings.cors_origins == ("http://a.example", "http://b.example")
    assert settings.cors_credentials is True
    assert (settings.function_key, settings.master_key) == ("fk", "mk")
    assert "fk" not in repr(settings) and "mk" not in repr(settings)


def test_missing_file_means_defaults(tmp_path: Path) -> None:
    settings = read_local_settings(tmp_path / "absent.json")
    assert settings.port == DEFAULT_PORT and settings.values == {} and settings.function_key is None


def test_values_never_override_the_environment() -> None:
    environment = {"ALREADY": "from the environment"}
    apply_values({"ALREADY": "from the file", "NEW": "from the file"}, environment)
    assert environment == {"ALREADY": "from the environment", "NEW": "from the file"}


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("{not json", "not valid JSON"),
        ("[]", "JSON object"),
        ({"IsEncrypted": True, "Values": {}}, "IsEncrypted"),
        ({"Values": {"A": 1}}, "Values must map names to strings"),
        ({"Values": {}, "Host": {"LocalHttpPort": "7071"}}, "LocalHttpPort"),
    ],
)
def test_bad_files_are_refused_clearly(tmp_path: Path, document: object, message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        read_local_settings(write(tmp_path / "local.settings.json", document))


def test_the_shipped_example_points_at_the_emulator() -> None:
    example = read_local_settings(Path(__file__).resolve().parents[2] / "local.settings.example.json")
    assert "Endpoint=http://localhost;Port=8080;" in example.values["WebPubSubConnectionString"]
    assert example.values["WebPubSubHub"] == "pubsub"
    assert example.port == 7071 and example.function_key
