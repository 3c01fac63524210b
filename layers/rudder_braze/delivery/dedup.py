"""Attribute deduplication (``supportDedup``): send only the attributes whose values changed.

RudderStack looks each user up with ``/users/export/ids`` (capped at 250 requests/min on newer Braze accounts).
This module needs no lookup: it compares an attributes object with per-user *fingerprints* of the values last
sent, which the caller keeps (in DynamoDB in the deployed app, in memory in tests and the dry run). The rules are
RudderStack's: identifiers and nested ``$add``/``$update``/``$remove`` operations always go through, non-billable
attributes are always sent, a ``null`` only when a value is known to exist, and an object left with nothing but
identifiers is a duplicate.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from rudder_braze.braze.requests import TRACK, BrazeRequest

JSON = dict[str, Any]
Fingerprints = dict[str, str]

_IDENTIFIERS = frozenset({"external_id", "user_alias", "appboy_id", "braze_id", "custom_events"})
NON_BILLABLE = frozenset({"country", "language", "email_subscribe", "push_subscribe", "subscription_groups"})
_OPERATIONS = ("$add", "$update", "$remove")
DUPLICATE_USER = "[Braze Deduplication]: Duplicate user detected, the user is dropped"


def fingerprint(value: Any) -> str:
    """A short stable digest of a JSON value (deep equality ⇔ equal fingerprints, key order ignored)."""
    canonical = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.blake2b(canonical.encode(), digest_size=12).hexdigest()


_NULL = fingerprint(None)


def user_key(attributes: Mapping[str, Any]) -> str | None:
    """The key a user's fingerprints are stored under: ``ext:<external_id>`` or ``alias:<rudder_id alias>``."""
    external_id = attributes.get("external_id")
    if isinstance(external_id, str):
        return f"ext:{external_id}"
    alias = attributes.get("user_alias")
    if isinstance(alias, dict) and alias.get("alias_label") == "rudder_id":
        return f"alias:{alias.get('alias_name')}"
    return None


def profile_fingerprints(profile: Mapping[str, Any]) -> Fingerprints:
    """Fingerprints of a Braze profile as ``/users/export/ids`` returns it (custom attributes flattened in)."""
    values = {k: v for k, v in profile.items() if k != "custom_attributes"}
    values.update(profile.get("custom_attributes") or {})
    return {k: fingerprint(v) for k, v in values.items() if k not in _IDENTIFIERS and k != "user_aliases"}


def is_control(key: str, value: Any) -> bool:
    if key in _IDENTIFIERS or key.startswith("_"):
        return True
    return isinstance(value, dict) and any(op in value for op in _OPERATIONS)


def deduplicate(
    attributes: JSON, known: Fingerprints | None, *, known_is_profile: bool = True
) -> tuple[JSON | None, Fingerprints]:
    """Return the attributes worth sending (``None`` if only identifiers would remain) and the updated fingerprints.

    ``known`` is what was last sent for this user (``None``: nothing known, so everything is sent).
    ``known_is_profile``: ``known`` describes the whole Braze profile (RudderStack's export lookup), so a key it
    lacks has no value and a ``null`` for it is dropped. The bridge's own store only knows what it sent, so there a
    ``null`` is dropped only when the value last sent was ``null`` too.
    """
    updated = dict(known or {})
    kept: JSON = {}
    changed = False
    for key, value in attributes.items():
        if is_control(key, value):
            kept[key] = value
            changed = changed or (key not in _IDENTIFIERS and not key.startswith("_"))
            continue
        digest = fingerprint(value)
        previous = updated.get(key)
        updated[key] = digest
        if key in NON_BILLABLE:
            kept[key] = value
            changed = True
        elif value is None:
            if previous != _NULL and (previous is not None or not known_is_profile):
                kept[key] = value
                changed = True
        elif digest != previous:
            kept[key] = value
            changed = True
    return (kept if changed else None), updated


def deduplicate_requests(
    requests: list[BrazeRequest], fingerprints: dict[str, Fingerprints], *, known_is_profile: bool = True
) -> list[BrazeRequest]:
    """Strip unchanged attributes from an event's requests, updating ``fingerprints`` (user key → fingerprints) as
    it goes; requests left with nothing to send are dropped."""
    for request in requests:
        if request.path != TRACK or "attributes" not in request.body:
            continue
        kept = []
        for attributes in request.body["attributes"]:
            key = user_key(attributes)
            if key is None:  # no key to remember this user by: always sent
                kept.append(attributes)
                continue
            reduced, fingerprints[key] = deduplicate(
                attributes, fingerprints.get(key), known_is_profile=known_is_profile
            )
            if reduced is not None:
                kept.append(reduced)
        if kept:
            request.body["attributes"] = kept
        else:
            del request.body["attributes"]
    return [r for r in requests if any(v for k, v in r.body.items() if k != "partner")]


def user_keys(requests: list[BrazeRequest]) -> set[str]:
    """The fingerprint keys of the users whose attributes these requests write."""
    return {
        key
        for request in requests
        if request.path == TRACK
        for attributes in request.body.get("attributes", ())
        if (key := user_key(attributes)) is not None
    }
