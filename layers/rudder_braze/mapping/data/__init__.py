"""Mapping tables kept as data (JSON files beside this module)."""

import json
from pathlib import Path
from typing import Any

_HERE = Path(__file__).parent


def load_json(name: str) -> Any:
    """Read one of the package's data files."""
    return json.loads((_HERE / name).read_text(encoding="utf-8"))
