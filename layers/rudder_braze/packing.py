"""Many events' Braze requests → few requests, within Braze's per-request limits.

This is RudderStack's "router" batching: ``/users/track`` objects are interleaved, ordered by user and cut to
the configured limit; subscription-group updates go 25 to a request (same group and state combined); merges and
identify merges 50 to a request. Every packed request knows which events it carries, and for ``/users/track``
which event each attributes/events/purchases item came from.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from itertools import zip_longest
from typing import Any

from rudder_braze.config import TrackBatchRule
from rudder_braze.mapping import IDENTIFY, MERGE, PARTNER, SUBSCRIPTION, TRACK, BrazeRequest

JSON = dict[str, Any]
TRACK_ARRAYS = ("attributes", "events", "purchases")
MAX_REQUEST_BYTES = 4 * 1024 * 1024
TRACK_PER_ARRAY = 75
TRACK_USERS = 75
SUBSCRIPTIONS_PER_REQUEST = 25
MERGES_PER_REQUEST = 50
IDENTIFIES_PER_REQUEST = 50

_Item = tuple[str, str, JSON]  # (array name, messageId, object)


def _user_key(obj: JSON) -> str | None:
    external_id = obj.get("external_id")
    return external_id if isinstance(external_id, str) else None


def _byte_size(obj: JSON) -> int:
    return len(json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode())


def _chunk_track(items: list[_Item], rule: TrackBatchRule, max_bytes: int) -> list[BrazeRequest]:
    # Objects with an external_id first, ordered by it (stable, so each user's objects keep their order);
    # alias-only objects last, together.
    ordered = sorted(items, key=lambda item: (0, key) if (key := _user_key(item[2])) is not None else (1, ""))
    total_limit = rule.total_limit
    chunks: list[BrazeRequest] = []
    current: BrazeRequest | None = None
    users: set[str | None] = set()
    size = 0
    for array, message_id, obj in ordered:
        item_size = _byte_size(obj) + 1
        user = _user_key(obj)
        if current is not None:
            lists = current.item_message_ids
            count = sum(len(ids) for ids in lists.values())
            if total_limit is not None:
                fits = count < total_limit
            else:
                fits = len(lists.get(array, ())) < TRACK_PER_ARRAY and (user in users or len(users) < TRACK_USERS)
            if not fits or size + item_size > max_bytes:
                current = None
        if current is None:
            current = BrazeRequest(TRACK, {"partner": PARTNER})
            chunks.append(current)
            users, size = set(), 64
        current.body.setdefault(array, []).append(obj)
        current.item_message_ids.setdefault(array, []).append(message_id)
        if message_id not in current.message_ids:
            current.message_ids.append(message_id)
        users.add(user)
        size += item_size
    return chunks


def _chunks(entries: Sequence[tuple[str, JSON]], size: int) -> Iterable[Sequence[tuple[str, JSON]]]:
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


def pack(
    events: Iterable[tuple[str, Sequence[BrazeRequest]]],
    rule: TrackBatchRule,
    max_bytes: int = MAX_REQUEST_BYTES,
) -> list[BrazeRequest]:
    """Pack ``(messageId, requests)`` pairs, in event order, into as few Braze requests as the limits allow.

    Order of the result: identify merges (so a user's anonymous profile is merged before their attributes
    arrive), then ``/users/track``, subscription-group updates and ``/users/merge``.
    """
    track: dict[str, list[tuple[str, JSON]]] = {array: [] for array in TRACK_ARRAYS}
    identifies: list[tuple[str, JSON]] = []
    subscriptions: list[tuple[str, JSON]] = []
    merges: list[tuple[str, JSON]] = []
    for message_id, requests in events:
        for request in requests:
            body = request.body
            if request.path == TRACK:
                for array in TRACK_ARRAYS:
                    track[array].extend((message_id, obj) for obj in body.get(array, ()))
            elif request.path == IDENTIFY:
                identifies.extend((message_id, alias) for alias in body["aliases_to_identify"])
            elif request.path == SUBSCRIPTION:
                subscriptions.extend((message_id, entry) for entry in body["subscription_groups"])
            elif request.path == MERGE:
                merges.extend((message_id, update) for update in body["merge_updates"])
            else:
                raise ValueError(f"cannot pack requests to {request.path}")
    packed = [
        BrazeRequest(
            IDENTIFY,
            {"aliases_to_identify": [alias for _, alias in chunk], "merge_behavior": "merge"},
            _message_ids(chunk),
        )
        for chunk in _chunks(identifies, IDENTIFIES_PER_REQUEST)
    ]
    interleaved: list[_Item] = [
        (array, *pair)
        for row in zip_longest(*(track[array] for array in TRACK_ARRAYS))
        for array, pair in zip(TRACK_ARRAYS, row, strict=True)
        if pair is not None
    ]
    packed.extend(_chunk_track(interleaved, rule, max_bytes))
    packed.extend(
        BrazeRequest(SUBSCRIPTION, {"subscription_groups": _combine_subscriptions(chunk)}, _message_ids(chunk))
        for chunk in _chunks(subscriptions, SUBSCRIPTIONS_PER_REQUEST)
    )
    packed.extend(
        BrazeRequest(MERGE, {"merge_updates": [update for _, update in chunk]}, _message_ids(chunk))
        for chunk in _chunks(merges, MERGES_PER_REQUEST)
    )
    return packed
