"""Many events' Braze requests → few requests, within Braze's per-request limits.

This is RudderStack's "router" batching: ``/users/track`` objects ordered by user and cut to the configured
limit; subscription-group updates go 25 to a request (same group and state combined); merges, identify merges
and user deletions 50 to a request (deletions one identifier kind per request). Every packed request knows which
events it carries, and for ``/users/track`` which events each attributes/events/purchases item came from.

With ``coalesce`` (what the delivery path does, beyond RudderStack), one user's attribute objects in the batch
are folded into one, later values winning in event order, wherever that leaves Braze's end state unchanged; and
identical identify merges are sent once.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from rudder_braze.braze.requests import (
    DELETE,
    DELETE_KINDS,
    IDENTIFY,
    MERGE,
    PARTNER,
    SUBSCRIPTION,
    TRACK,
    BrazeRequest,
)
from rudder_braze.config import TrackBatchRule

JSON = dict[str, Any]
TRACK_ARRAYS = ("attributes", "events", "purchases")
MAX_REQUEST_BYTES = 4 * 1024 * 1024
TRACK_PER_ARRAY = 75
TRACK_USERS = 75
SUBSCRIPTIONS_PER_REQUEST = 25
MERGES_PER_REQUEST = 50
IDENTIFIES_PER_REQUEST = 50
DELETIONS_PER_REQUEST = 50

# The /users/track objects of one event (or of one user's events, coalesced): (external_id or None,
# [(array name, object, the events it stands for), ...]).
_Item = tuple[str, JSON, tuple[str, ...]]
_Unit = tuple[str | None, list[_Item]]
_CONTROL_KEYS = ("external_id", "user_alias", "braze_id", "_update_existing_only", "_merge_objects")


def _user_key(obj: JSON) -> str | None:
    external_id = obj.get("external_id")
    return external_id if isinstance(external_id, str) else None


def _byte_size(obj: JSON) -> int:
    return len(json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode())


def _unit_sort_key(unit: _Unit) -> tuple[int, str]:
    user = unit[0]
    return (0, user) if user is not None else (1, "")


def _split_unit(unit: _Unit, limit: int) -> list[_Unit]:
    """An event with more objects than one request may hold is cut into pieces (rare: a huge order)."""
    user, objects = unit
    if len(objects) <= limit:
        return [unit]
    return [(user, objects[start : start + limit]) for start in range(0, len(objects), limit)]


def _identity(obj: JSON) -> str | None:
    alias = obj.get("user_alias")
    external_id = obj.get("external_id")
    if isinstance(external_id, str):
        return "ext:" + external_id
    if isinstance(alias, dict):
        return "alias:" + json.dumps(alias, sort_keys=True)
    return None


def _can_fold(into: JSON, later: JSON) -> bool:
    """Two attribute objects can become one when writing the later over the earlier gives Braze the same end
    state: same identity and flags, and no value that is an operation (nested ``$add``/``$update``, array
    ``add``/``remove``, ``inc``) or a nested object (which Braze may merge rather than replace)."""
    if any(into.get(k) != later.get(k) for k in _CONTROL_KEYS):
        return False
    return not any(isinstance(v, dict) for obj in (into, later) for k, v in obj.items() if k not in _CONTROL_KEYS)


class FoldedAttributes(dict[str, Any]):
    """An attributes object made of several events' objects; ``sources`` are their ``id()``s, so the delivery
    policy knows which objects Braze took when it accepts this one."""

    sources: tuple[int, ...] = ()


def _coalesce(units: list[_Unit]) -> list[_Unit]:
    """One unit per user, in the order users first appear; each user's objects keep their event order."""
    by_user: dict[str, list[_Unit]] = {}
    alone: list[_Unit] = []
    for unit in units:
        identity = _identity(unit[1][0][1])
        if identity is None:
            alone.append(unit)
        else:
            by_user.setdefault(identity, []).append(unit)
    folded: list[_Unit] = []
    for user_units in by_user.values():
        objects: list[_Item] = []
        current: FoldedAttributes | None = None
        current_at = -1
        for _, unit_objects in user_units:
            for array, obj, owners in unit_objects:
                if array != "attributes":
                    objects.append((array, obj, owners))
                elif current is not None and _can_fold(current, obj):
                    current.update(obj)
                    current.sources += (id(obj),)
                    folded_owners = objects[current_at][2] + tuple(o for o in owners if o not in objects[current_at][2])
                    objects[current_at] = (array, current, folded_owners)
                else:
                    current = FoldedAttributes(obj)
                    current.sources = (id(obj),)
                    current_at = len(objects)
                    objects.append((array, current, owners))
        folded.append((user_units[0][0], objects))
    return folded + alone


def _chunk_track(units: list[_Unit], rule: TrackBatchRule, max_bytes: int) -> list[BrazeRequest]:
    """Greedy packing of whole events (an event's objects stay in one request, so it succeeds or fails as one).

    Events with an external_id come first, ordered by it (stable, so each user's events keep their order, and
    each array ends up ordered as RudderStack orders it); alias-only events last, together.
    """
    total_limit = rule.total_limit
    ordered = sorted(units, key=_unit_sort_key)
    pieces = [piece for unit in ordered for piece in _split_unit(unit, total_limit or TRACK_PER_ARRAY)]
    chunks: list[BrazeRequest] = []
    current: BrazeRequest | None = None
    users: set[str | None] = set()
    counts: dict[str, int] = {}
    size = 0
    for user, objects in pieces:
        added: dict[str, int] = {}
        for array, _, _ in objects:
            added[array] = added.get(array, 0) + 1
        piece_size = sum(_byte_size(obj) + 1 for _, obj, _ in objects)
        if current is not None:
            if total_limit is not None:
                fits = sum(counts.values()) + len(objects) <= total_limit
            else:
                fits = all(counts.get(a, 0) + n <= TRACK_PER_ARRAY for a, n in added.items()) and (
                    user in users or len(users) < TRACK_USERS
                )
            if not fits or size + piece_size > max_bytes:
                current = None
        if current is None:
            current = BrazeRequest(TRACK, {"partner": PARTNER})
            chunks.append(current)
            users, counts, size = set(), {}, 64
        for array, obj, owners in objects:
            current.body.setdefault(array, []).append(obj)
            current.item_owners.setdefault(array, []).append(owners)
            current.message_ids.extend(o for o in owners if o not in current.message_ids)
        for array, n in added.items():
            counts[array] = counts.get(array, 0) + n
        users.add(user)
        size += piece_size
    for chunk in chunks:  # Braze reads the arrays in this order; keep the body tidy and stable
        chunk.body = {k: chunk.body[k] for k in ("partner", *TRACK_ARRAYS) if k in chunk.body}
    return chunks


def _chunks[K](entries: Sequence[tuple[K, JSON]], size: int) -> Iterable[Sequence[tuple[K, JSON]]]:
    for start in range(0, len(entries), size):
        yield entries[start : start + size]


def _message_ids(chunk: Sequence[tuple[str, JSON]]) -> list[str]:
    return list(dict.fromkeys(message_id for message_id, _ in chunk))


def _combine_subscriptions(chunk: Sequence[tuple[str, JSON]]) -> list[JSON]:
    groups: dict[tuple[Any, Any], JSON] = {}
    for _, entry in chunk:
        key = (entry.get("subscription_group_id"), entry.get("subscription_state"))
        combined = groups.setdefault(key, {"subscription_group_id": key[0], "subscription_state": key[1]})
        for field in ("emails", "phones", "external_ids"):
            if field in entry:
                values = combined.setdefault(field, [])
                values.extend(v for v in entry[field] if v not in values)
    # Braze expects the identifier lists after the group and state; keep RudderStack's key order.
    return [
        {
            k: group[k]
            for k in ("subscription_group_id", "subscription_state", "emails", "phones", "external_ids")
            if k in group
        }
        for group in groups.values()
    ]


def _unique_identifies(identifies: list[tuple[str, JSON]]) -> list[tuple[tuple[str, ...], JSON]]:
    merged: dict[str, tuple[list[str], JSON]] = {}
    for message_id, alias in identifies:
        owners, _ = merged.setdefault(json.dumps(alias, sort_keys=True), ([], alias))
        owners.append(message_id)
    return [(tuple(owners), alias) for owners, alias in merged.values()]


def pack(
    events: Iterable[tuple[str, Sequence[BrazeRequest]]],
    rule: TrackBatchRule,
    max_bytes: int = MAX_REQUEST_BYTES,
    coalesce: bool = False,
) -> list[BrazeRequest]:
    """Pack ``(messageId, requests)`` pairs, in event order, into as few Braze requests as the limits allow.

    Order of the result: identify merges (so a user's anonymous profile is merged before their attributes
    arrive), then ``/users/track``, subscription-group updates, ``/users/merge`` and ``/users/delete``.
    """
    track: list[_Unit] = []
    identifies: list[tuple[str, JSON]] = []
    subscriptions: list[tuple[str, JSON]] = []
    merges: list[tuple[str, JSON]] = []
    deletions: dict[str, list[tuple[str, JSON]]] = {kind: [] for kind in DELETE_KINDS}
    for message_id, requests in events:
        for request in requests:
            body = request.body
            if request.path == TRACK:
                objects: list[_Item] = [(a, obj, (message_id,)) for a in TRACK_ARRAYS for obj in body.get(a, ())]
                if objects:
                    track.append((_user_key(objects[0][1]), objects))
            elif request.path == IDENTIFY:
                identifies.extend((message_id, alias) for alias in body["aliases_to_identify"])
            elif request.path == SUBSCRIPTION:
                subscriptions.extend((message_id, entry) for entry in body["subscription_groups"])
            elif request.path == MERGE:
                merges.extend((message_id, update) for update in body["merge_updates"])
            elif request.path == DELETE:
                for kind in DELETE_KINDS:
                    deletions[kind].extend((message_id, identifier) for identifier in body.get(kind, ()))
            else:
                raise ValueError(f"cannot pack requests to {request.path}")
    aliases = _unique_identifies(identifies) if coalesce else [((m,), alias) for m, alias in identifies]
    packed = [
        BrazeRequest(
            IDENTIFY,
            {"aliases_to_identify": [alias for _, alias in chunk], "merge_behavior": "merge"},
            list(dict.fromkeys(owner for owners, _ in chunk for owner in owners)),
        )
        for chunk in _chunks(aliases, IDENTIFIES_PER_REQUEST)
    ]
    packed.extend(_chunk_track(_coalesce(track) if coalesce else track, rule, max_bytes))
    packed.extend(
        BrazeRequest(SUBSCRIPTION, {"subscription_groups": _combine_subscriptions(chunk)}, _message_ids(chunk))
        for chunk in _chunks(subscriptions, SUBSCRIPTIONS_PER_REQUEST)
    )
    packed.extend(
        BrazeRequest(MERGE, {"merge_updates": [update for _, update in chunk]}, _message_ids(chunk))
        for chunk in _chunks(merges, MERGES_PER_REQUEST)
    )
    packed.extend(
        BrazeRequest(DELETE, {kind: [identifier for _, identifier in chunk]}, _message_ids(chunk))
        for kind, identifiers in deletions.items()
        for chunk in _chunks(identifiers, DELETIONS_PER_REQUEST)
    )
    return packed
