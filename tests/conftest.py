"""Shared test helpers: the optional ../shared reference data, and the local stack every test level starts."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from local.stack import LocalStack

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


StartStack = Callable[..., "LocalStack"]


@pytest.fixture
def start_stack() -> Iterator[StartStack]:
    """Starts a local stack with ``LocalStack``'s options; every stack the test started is stopped when it ends."""
    from local.stack import LocalStack

    started: list[LocalStack] = []

    def start(**options: Any) -> LocalStack:
        stack = LocalStack(**options).start()
        started.append(stack)
        return stack

    yield start
    for stack in reversed(started):
        stack.stop()
