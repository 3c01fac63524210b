"""Values JSON can carry but nothing downstream can: checked on each event, so one bad value is its event's 400.

Python's JSON reader accepts two things no later step can write: a string escape that is half of a UTF-16
surrogate pair (``"\\ud800"``, which has no UTF-8 encoding, so DynamoDB, SQS and Braze would all fail on it), and
a number too large for a float (``1e999`` reads as infinity, which is not JSON). Identifiers that become keys are
bounded by their UTF-8 size, not their length in characters.
"""

from __future__ import annotations

import json
import math
from typing import Any

from rudder_braze.errors import EventError
from rudder_braze.limits import MAX_IDENTIFIER_BYTES

# Fields that identify an event or a user, and end up in keys, queue attributes and Braze identifiers.
IDENTIFIERS = ("messageId", "userId", "anonymousId", "previousId", "groupId")


def is_unicode(text: str) -> bool:
    """False for a string holding a lone surrogate (no UTF-8 encoding exists for it)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _walk(value: Any, path: str) -> tuple[str, str] | None:
    """The first value that cannot be written out, as ``(path, reason)``; iterative, so depth costs no stack."""
    pending: list[tuple[Any, str]] = [(value, path)]
    while pending:
        current, where = pending.pop()
        if isinstance(current, str):
            if not is_unicode(current):
                return where, "holds a lone UTF-16 surrogate escape, which is not Unicode text"
        elif isinstance(current, float):
            if not math.isfinite(current):
                return where, "is a number too large to represent (not finite)"
        elif isinstance(current, dict):
            for key, item in reversed(current.items()):
                if not is_unicode(key):
                    return where, "has a key holding a lone UTF-16 surrogate escape, which is not Unicode text"
                pending.append((item, f"{where}.{key}"))
        elif isinstance(current, list):
            pending.extend((item, f"{where}[{index}]") for index, item in reversed(list(enumerate(current))))
    return None


def check_values(event: dict[str, Any]) -> None:
    """Raise :class:`EventError` (with the JSON path, never the value) for the first value nothing can write out,
    or an identifier over :data:`MAX_IDENTIFIER_BYTES` bytes of UTF-8."""
    try:  # the common case at C speed: an event that writes out as strict UTF-8 JSON needs no walk
        json.dumps(event, ensure_ascii=False, allow_nan=False, check_circular=False).encode("utf-8")
    except (ValueError, UnicodeEncodeError):
        found = _walk(event, "$")
        if found is not None:
            path, reason = found
            raise EventError(f"{path} {reason}", path) from None
    for name in IDENTIFIERS:
        value = event.get(name)
        if isinstance(value, str) and len(value.encode("utf-8")) > MAX_IDENTIFIER_BYTES:
            size = len(value.encode("utf-8"))
            raise EventError(f"$.{name} is {size} bytes of UTF-8; the limit is {MAX_IDENTIFIER_BYTES}", f"$.{name}")
