"""Who may call the webhook: a source in the allowlist (when one is set), presenting the shared token, sent as
``Bearer <token>`` or as the user name of HTTP Basic (RudderStack's HTTP API style), compared in constant time with
the current and the previous token."""

from __future__ import annotations

import base64
import binascii
import hmac
import ipaddress
from collections.abc import Callable, Iterable
from dataclasses import dataclass

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def networks(cidrs: str) -> tuple[Network, ...]:
    """``ALLOWED_SOURCE_CIDRS`` (comma-separated, empty: any source) as networks; a bad entry fails the cold start."""
    return tuple(ipaddress.ip_network(cidr.strip(), strict=False) for cidr in cidrs.split(",") if cidr.strip())


@dataclass(frozen=True, slots=True)
class Access:
    """The tokens accepted now (read when needed: they rotate) and the source networks allowed (none: any)."""

    tokens: Callable[[], list[str | None]]
    sources: tuple[Network, ...] = ()

    def allows_source(self, source_ip: str | None) -> bool:
        """An HTTP API has no resource policy: the allowlist is checked here (a REST API's policy checks it first).
        A request whose source is unknown is refused when there is an allowlist."""
        if not self.sources:
            return True
        try:
            address = ipaddress.ip_address(source_ip or "")
        except ValueError:
            return False
        return any(address in network for network in self.sources)


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
