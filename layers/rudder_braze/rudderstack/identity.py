"""Who a RudderStack event is about, as the bridge orders a user's events."""

from __future__ import annotations

from typing import Any


def user_of(event: dict[str, Any], fallback: str) -> str:
    """The ordering key of a RudderStack event: its userId, else its anonymousId (as RudderStack orders jobs)."""
    for field_name, prefix in (("userId", "u:"), ("anonymousId", "a:")):
        value = event.get(field_name)
        if isinstance(value, (str, int, float)) and not isinstance(value, bool) and value not in ("", 0):
            return f"{prefix}{value}"
    return f"m:{fallback}"
