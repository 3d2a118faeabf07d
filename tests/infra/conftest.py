"""A scratch copy of the app for the mutation cases: each breaks one thing in the copy and
expects the checks to notice."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.support import APP_ROOT

COPIED = (".funcignore", "docs", "host.json", "requirements.txt", "pyproject.toml", "infra", "shared")
SKIPPED = shutil.ignore_patterns("__pycache__", "*.pyc")


def copy_app(destination: Path) -> Path:
    """The files the deployment checks read, plus every function folder."""
    destination.mkdir(parents=True)
    function_folders = [path.parent.name for path in APP_ROOT.glob("*/function.json")]
    for name in (*COPIED, *function_folders):
        source = APP_ROOT / name
        if source.is_dir():
            shutil.copytree(source, destination / name, ignore=SKIPPED)
        else:
            shutil.copy2(source, destination / name)
    return destination


@pytest.fixture
def app_copy(tmp_path: Path) -> Path:
    return copy_app(tmp_path / "app")
