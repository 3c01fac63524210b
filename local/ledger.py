"""The ledger that says, event by event, whether Braze stored a workload's events exactly once.

The expected objects come from the mapping itself (``transform_event``), so the check is "what the mapping says,
stored once": events, purchases and merges object by object; attributes, which the delivery path may coalesce per
user, by the profile each user ends up with (every attribute write applied in order).
"""

from __future__ import annotations

import json
import statistics
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from local.workload import Sent
from rudder_braze.braze.requests import TRACK
from rudder_braze.config import BrazeSettings
from rudder_braze.errors import EventError
from rudder_braze.mapping.transform import transform_event
from rudder_braze.rudderstack.validation import validate_event

JSON = dict[str, Any]
# Objects as the simulator stores them: (kind, canonical JSON).
ObjectKey = tuple[str, str]
_KIND_OF_PATH = {
    "/users/identify": "aliases_identified",
    "/users/merge": "merges",
    "/v2/subscription/status/set": "subscriptions",
}
_LIST_OF_PATH = {
    "/users/identify": "aliases_to_identify",
    "/users/merge": "merge_updates",
    "/v2/subscription/status/set": "subscription_groups",
}


def canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


@dataclass
class Expectation:
    """What Braze must end up with for one event: its objects (attributes apart) and its attribute writes."""

    message_id: str
    objects: list[ObjectKey]
    valid: bool
    attributes: list[JSON] = field(default_factory=list)


def expectations(events: Iterable[JSON], settings: BrazeSettings) -> dict[str, Expectation]:
    found: dict[str, Expectation] = {}
    for event in events:
        try:
            validate_event(event)
            requests = transform_event(event, settings)
        except EventError:
            found[event["messageId"]] = Expectation(event["messageId"], [], valid=False)
            continue
        objects: list[ObjectKey] = []
        for request in requests:
            if request.path == TRACK:
                objects += [(a, canonical(obj)) for a in ("events", "purchases") for obj in request.body.get(a, ())]
            else:
                kind, items = _KIND_OF_PATH[request.path], request.body[_LIST_OF_PATH[request.path]]
                objects += [(kind, canonical(item)) for item in items]
        attributes = [obj for r in requests if r.path == TRACK for obj in r.body.get("attributes", ())]
        found[event["messageId"]] = Expectation(event["messageId"], objects, valid=True, attributes=attributes)
    return found


def profiles(attribute_objects: Iterable[JSON]) -> dict[str, JSON]:
    """Each user's attributes after applying every write in order (what Braze ends up showing)."""
    state: dict[str, JSON] = {}
    for obj in attribute_objects:
        who = obj.get("external_id") or canonical(obj.get("user_alias"))
        profile = state.setdefault(str(who), {})
        profile.update(
            {k: v for k, v in obj.items() if not k.startswith("_") and k not in ("external_id", "user_alias")}
        )
    return state


@dataclass
class Summary:
    sent: int
    delivered: int
    delivered_first_time: int
    delivered_after_retry: int
    rejected: int
    dead_lettered: int
    duplicates: int
    lost: int
    braze_requests: int
    braze_statuses: dict[str, int]
    latency_p50_ms: float
    latency_p95_ms: float
    dead_letter_reasons: dict[str, int]
    problems: list[str] = field(default_factory=list)

    def last_line(self) -> str:
        return (f"demo: sent={self.sent} delivered={self.delivered} rejected={self.rejected} "
                f"dead_lettered={self.dead_lettered} duplicates={self.duplicates} lost={self.lost}")  # fmt: skip


@dataclass
class Observed:
    """What a run left behind: the objects the simulator stored, the dead letters, the simulator's counts."""

    stored: list[JSON]
    dead_letters: list[JSON]
    braze_stats: JSON


def reconcile(events: list[JSON], settings: BrazeSettings, sent: list[Sent], observed: Observed) -> Summary:
    """Event by event: was what the mapping says stored exactly once (or dead-lettered with a reason)?"""
    stored, dead_letters, braze_stats = observed.stored, observed.dead_letters, observed.braze_stats
    expected = expectations(events, settings)
    stored_counts: Counter[ObjectKey] = Counter((item["kind"], canonical(item["object"])) for item in stored)
    stored_at: dict[ObjectKey, float] = {}
    for item in stored:
        stored_at.setdefault((item["kind"], canonical(item["object"])), item["at"])
    dead_ids = {d["body"].get("messageId") for d in dead_letters}
    first_sent: dict[str, float] = {}
    delivered_first = 0
    for request in sent:
        for event in request.events:
            first_sent.setdefault(event["messageId"], request.first_sent)
    for request in sent:
        answers = [b for b in request.bodies if isinstance(b, dict)]
        if answers:
            delivered_first += int(answers[-1].get("delivered", 0))
    delivered = duplicates = lost = 0
    latencies: list[float] = []
    problems: list[str] = []
    live = [e for m, e in expected.items() if e.valid and m not in dead_ids]
    wanted = profiles(obj for e in live for obj in e.attributes)
    got = profiles(item["object"] for item in stored if item["kind"] == "attributes")
    wrong_users = {user for user, profile in wanted.items() if got.get(user) != profile}
    for expectation in live:
        message_id = expectation.message_id
        counts = [stored_counts[key] for key in expectation.objects]
        users = set(profiles(expectation.attributes))
        if any(c == 0 for c in counts) or users & wrong_users:
            lost += 1
            problems.append(f"lost: {message_id}")
        elif any(c > 1 for c in counts):
            duplicates += 1
            problems.append(f"stored more than once: {message_id}")
        else:
            delivered += 1
            if expectation.objects:
                done = max(stored_at[key] for key in expectation.objects)
                latencies.append((done - first_sent[message_id]) * 1000)
    reasons = Counter((d.get("reason") or "?").split(":")[0] for d in dead_letters)
    quantiles = statistics.quantiles(latencies, n=20) if len(latencies) >= 2 else [0.0] * 19
    return Summary(
        sent=len(expected),
        delivered=delivered,
        delivered_first_time=min(delivered_first, delivered),
        delivered_after_retry=max(0, delivered - delivered_first),
        rejected=sum(1 for e in expected.values() if not e.valid),
        dead_lettered=len(dead_ids),
        duplicates=duplicates,
        lost=lost,
        braze_requests=int(braze_stats.get("requests", 0)),
        braze_statuses=dict(braze_stats.get("statuses", {})),
        latency_p50_ms=statistics.median(latencies) if latencies else 0.0,
        latency_p95_ms=quantiles[18],
        dead_letter_reasons=dict(reasons),
        problems=problems[:20],
    )
