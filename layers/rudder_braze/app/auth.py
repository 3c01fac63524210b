"""Webhook authentication: a shared token, sent as ``Bearer <token>`` or as the user name of HTTP Basic
(RudderStack's HTTP API style), compared in constant time with the current and the previous token."""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Iterable


def presented_token(authorization: str | None) -> str | None:
    """The token an ``Authorization`` header carries, or ``None`` when there is none or it is malformed."""
    if not authorization:
        return None
    scheme, _, value = authorization.strip().partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer":
        return value or None
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        user, _, _ = decoded.partition(":")
        return user or None
    return None


def is_authorized(authorization: str | None, accepted: Iterable[str | None]) -> bool:
    """True when the header carries one of the accepted tokens. Every candidate is compared, always, so the time
    taken does not tell which token (or which part of one) was close."""
    token = presented_token(authorization) or ""
    matched = False
    for candidate in accepted:
        if candidate:
            matched |= hmac.compare_digest(token.encode(), candidate.encode())
    return matched and bool(token)
