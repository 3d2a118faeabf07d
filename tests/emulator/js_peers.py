"""The official JavaScript clients the tests run under node, installed from tests/js's own lock file."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

JS_PEERS = Path(__file__).parent.parent / "js"  # package.json + package-lock.json pin the JS clients


def installed_js_peers() -> Path:
    """tests/js, with every package its package.json names installed (``npm ci`` on first use)."""
    node, npm = shutil.which("node"), shutil.which("npm")
    assert node and npm, "node and npm are needed for the JS client tests (Debian: apt-get install nodejs npm)"
    wanted = json.loads((JS_PEERS / "package.json").read_text())["dependencies"]
    if not all((JS_PEERS / "node_modules" / name).is_dir() for name in wanted):
        subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"], cwd=JS_PEERS, check=True, timeout=300, capture_output=True
        )
    return JS_PEERS
