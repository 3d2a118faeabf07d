"""``azd restore`` runs ``pip install .`` at the service root: the project must build, as a
package-free distribution whose dependencies are the app's requirements.txt."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

from tests.infra.conftest import copy_app
from tests.support import APP_ROOT


def build_wheel(source: Path, out: Path) -> subprocess.CompletedProcess[str]:
    """Builds like pip does for ``pip install .``, offline and with the build tools installed here."""
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q"]
    return subprocess.run([*command, "-w", str(out), str(source)], capture_output=True, text=True, timeout=120)


def app_tree(tmp_path: Path) -> Path:
    """The deployable folders plus the dev ones, so setuptools sees every top-level package."""
    root = copy_app(tmp_path / "app")
    for name in ("emulator", "devhost", "bench"):
        (root / name).mkdir()
        (root / name / "__init__.py").write_text("")
    return root


def test_pip_install_dot_builds_a_package_free_distribution_of_the_requirements(tmp_path: Path) -> None:
    result = build_wheel(app_tree(tmp_path), tmp_path / "out")
    assert result.returncode == 0, result.stderr
    (wheel,) = (tmp_path / "out").glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        metadata = archive.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    assert all(".dist-info/" in name for name in names), names
    requires = [
        line.removeprefix("Requires-Dist: ") for line in metadata.splitlines() if line.startswith("Requires-Dist:")
    ]
    pinned = [
        line.strip()
        for line in (APP_ROOT / "requirements.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert requires == pinned


def test_tool_settings_alone_fail_the_build_as_azd_reported(tmp_path: Path) -> None:
    root = app_tree(tmp_path)
    pyproject = root / "pyproject.toml"
    text = pyproject.read_text()
    tool_settings = text[text.index("[tool.ruff]") :]
    pyproject.write_text(tool_settings)
    result = build_wheel(root, tmp_path / "out")
    assert result.returncode != 0
    assert "Multiple top-level packages" in result.stderr + result.stdout
