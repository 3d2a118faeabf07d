"""The deployment package, computed with the rules azd and Core Tools apply (``.funcignore``,
gitignore syntax), holds exactly what runs."""

from __future__ import annotations

from pathlib import Path

from tests.infra.package import deployment_files, function_folders, package_problems
from tests.support import APP_ROOT

LOCAL_CLUTTER = (
    ".pytest_cache/v/cache/nodeids",
    ".ruff_cache/0.17.6/123",
    ".hypothesis/examples/ab/cd",
    "app_env/bin/python",
    ".venv/bin/python",
    ".tools/node_modules/azurite/package.json",
    "node_modules/left-pad/index.js",
    "shared/__pycache__/settings.cpython-311.pyc",
    "negotiate/__pycache__/__init__.cpython-311.pyc",
    "tests/infra/test_template.py",
    "emulator/hub.py",
    "devhost/server.py",
    "devtools/http_guard.py",
    "devtools/azurite.py",
    "bench/results/latest.json",
    "infra/main.bicep",
    "local.settings.json",
    "webpubsub_functions.egg-info/PKG-INFO",
    "build/lib/x.py",
    "NOTES.md",
)


def test_the_package_is_the_function_folders_shared_host_json_and_requirements() -> None:
    assert package_problems(APP_ROOT) == []
    shipped = deployment_files(APP_ROOT)
    assert {path.split("/", 1)[0] for path in shipped} == function_folders(APP_ROOT) | {
        "shared",
        "host.json",
        "requirements.txt",
    }


def test_caches_virtualenvs_tools_and_dev_folders_never_ship(app_copy: Path) -> None:
    for relative in LOCAL_CLUTTER:
        path = app_copy / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x")
    shipped = deployment_files(app_copy)
    assert not shipped & set(LOCAL_CLUTTER)
    assert package_problems(app_copy) == []


def test_a_new_function_folder_ships_without_touching_funcignore(app_copy: Path) -> None:
    folder = app_copy / "presence"
    folder.mkdir()
    (folder / "function.json").write_text("{}")
    (folder / "__init__.py").write_text("")
    assert "presence" in function_folders(app_copy)
    assert {"presence/function.json", "presence/__init__.py"} <= deployment_files(app_copy)
    assert package_problems(app_copy) == []


def test_a_stray_top_level_file_is_reported(app_copy: Path) -> None:
    (app_copy / "scratch.py").write_text("")
    assert package_problems(app_copy) == ["scratch.py: ships but is not part of the app"]
