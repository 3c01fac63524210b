"""Shared test helpers: the optional ../shared reference data, and settings shortcuts."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("RUDDER_BRAZE_SHARED", ROOT.parent / "shared"))


def shared_file(relative: str) -> Path:
    """A file of the project's reference data set; the test is skipped when the data set is absent."""
    path = SHARED / relative
    if not path.is_file():
        pytest.skip(f"reference data {relative} not found under {SHARED} (set RUDDER_BRAZE_SHARED to run this test)")
    return path


def shared_json(relative: str) -> Any:
    return json.loads(shared_file(relative).read_text(encoding="utf-8"))
