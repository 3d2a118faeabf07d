"""Reading the dev host's JSON files (function.json, host.json, local.settings.json)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def read_json_object(path: Path, error: type[Exception]) -> dict[str, Any]:
    """The file's JSON object (a UTF-8 BOM is fine), or ``error`` naming the file and the problem."""
    try:
        value = json.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, ValueError) as problem:
        raise error(f"{path}: not valid JSON ({problem}).") from None
    if not isinstance(value, dict):
        raise error(f"{path}: must hold a JSON object.")
    return value
