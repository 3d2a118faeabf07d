"""The deployment package as Core Tools and azd build it: every file under the app root that
``.funcignore`` (gitignore syntax; when it exists, the only ignore file they read) does not exclude.
"""

from __future__ import annotations

import os
from pathlib import Path

import pathspec

ALWAYS_SHIPPED_FILES = frozenset({"host.json", "requirements.txt"})
SHARED_PACKAGE = "shared"


def ignore_spec(root: Path) -> pathspec.GitIgnoreSpec:
    return pathspec.GitIgnoreSpec.from_lines((root / ".funcignore").read_text().splitlines())


def deployment_files(root: Path) -> set[str]:
    """Relative POSIX paths of the files that would ship. Ignored folders are not entered (as git
    does: a file in an excluded folder cannot be re-included), and symlinks are never followed."""
    spec = ignore_spec(root)
    shipped: set[str] = set()
    pending = [""]
    while pending:
        folder = pending.pop()
        with os.scandir(root / folder) as entries:
            for entry in entries:
                relative = f"{folder}{entry.name}"
                if entry.is_dir(follow_symlinks=False):
                    if not spec.match_file(f"{relative}/"):
                        pending.append(f"{relative}/")
                elif not spec.match_file(relative):
                    shipped.add(relative)
    return shipped


def function_folders(root: Path) -> set[str]:
    """Top-level folders holding a ``function.json``: the functions of a classic-model app."""
    return {path.parent.name for path in root.glob("*/function.json")}


def package_problems(root: Path) -> list[str]:
    """The package holds exactly what runs: the function folders, ``shared/``, ``host.json`` and
    ``requirements.txt``, each of those whole, and no cache or compiled file."""
    shipped = deployment_files(root)
    allowed_folders = function_folders(root) | {SHARED_PACKAGE}
    problems = []
    for path in sorted(shipped):
        top = path.split("/", 1)[0]
        if path not in ALWAYS_SHIPPED_FILES and top not in allowed_folders:
            problems.append(f"{path}: ships but is not part of the app")
        if "__pycache__" in path.split("/") or path.endswith((".pyc", ".pyo")):
            problems.append(f"{path}: a compiled cache ships")
    for name in sorted(ALWAYS_SHIPPED_FILES - shipped):
        problems.append(f"{name}: left out of the package")
    for folder in sorted(allowed_folders):
        sources = {
            path.relative_to(root).as_posix()
            for path in (root / folder).rglob("*")
            if path.is_file() and "__pycache__" not in path.parts
        }
        for missing in sorted(sources - shipped):
            problems.append(f"{missing}: part of the app but left out of the package")
    return problems
