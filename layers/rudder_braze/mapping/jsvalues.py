"""JavaScript value semantics that RudderStack's behaviour depends on (truthiness, String(), parseFloat, parseInt)."""

from __future__ import annotations

import math
import re
from typing import Any

_FLOAT_PREFIX = re.compile(r"\s*[+-]?(?:\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?|Infinity)")
_INT_PREFIX = re.compile(r"\s*[+-]?\d+")


def truthy(value: Any) -> bool:
    """JS truthiness for JSON values: ``[]`` and ``{}`` are truthy, ``0``, ``""``, ``false`` and ``null`` are not."""
    return not (value is None or value is False or value in (0, ""))


def js_string(value: Any) -> str:
    """``String(value)`` for JSON scalars (``true`` → ``"true"``, ``2.0`` → ``"2"``)."""
    if isinstance(value, str):
        return value
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return "null"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    return str(value)


def parse_float(value: Any) -> float | int | None:
    """``parseFloat(String(value))``; ``None`` where JavaScript would give ``NaN``.

    Whole numbers come back as ``int`` so that they serialise as JavaScript would (``12``, not ``12.0``).
    """
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float):
        number = value
    else:
        match = _FLOAT_PREFIX.match(js_string(value))
        if not match:
            return None
        number = float(match.group().strip().replace("Infinity", "inf"))
    if not math.isfinite(number):
        return None
    return int(number) if number.is_integer() and abs(number) < 2**53 else number


def parse_int(value: Any) -> int | None:
    """``parseInt(String(value), 10)``; ``None`` where JavaScript would give ``NaN``."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float):
        return int(value) if math.isfinite(value) else None
    match = _INT_PREFIX.match(js_string(value))
    return int(match.group()) if match else None
