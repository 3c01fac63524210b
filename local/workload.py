"""A generated RudderStack workload, a sender that behaves like RudderStack's Webhook destination, and the
ledger that says, event by event, whether Braze stored it exactly once.

Every generated event carries a unique marker in what reaches Braze (a trait, a property, a product field, a
group id, an alias), so each Braze object the simulator stored can be traced to one event. The expected objects
come from the mapping itself (``transform_event``), so the check is "what the mapping says, stored once":
events, purchases and merges object by object; attributes, which the delivery path may coalesce per user, by
the profile each user ends up with (every attribute write applied in order).
"""

from __future__ import annotations

import json
import random
import statistics
import time
from collections import Counter
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import urllib3

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


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def generate(count: int, users: int = 300, seed: int = 7, invalid_share: float = 0.01) -> list[JSON]:
    """``count`` events of every type for ``users`` users; a small share is invalid on purpose."""
    rng = random.Random(seed)
    events: list[JSON] = []
    for n in range(count):
        user = f"user-{rng.randrange(users):04d}"
        marker = f"demo-{seed}-{n:06d}"
        base: JSON = {"messageId": marker, "userId": user, "timestamp": _now_iso(), "channel": "web",
                      "context": {"library": {"name": "RudderLabs JavaScript SDK", "version": "3.0.3"}}}  # fmt: skip
        roll = rng.random()
        if roll < invalid_share:
            event = {**base, "type": "track"}  # no event name: rejected with a 400
        elif roll < 0.22:
            traits = {"email": f"{user}@example.com", "firstName": user.title(), "plan": rng.choice(["free", "pro"]),
                      "demo_id": marker}  # fmt: skip
            event = {
                **base,
                "type": "identify",
                "anonymousId": f"anon-{marker}",
                "context": {**base["context"], "traits": traits},
            }
        elif roll < 0.55:
            name = rng.choice(["Button Clicked", "Video Played", "Search Performed", "Signed Up"])
            event = {
                **base,
                "type": "track",
                "event": name,
                "properties": {"demo_id": marker, "value": rng.randrange(100)},
            }
        elif roll < 0.65:
            products = [
                {"product_id": f"p-{rng.randrange(50)}", "price": rng.randrange(1, 100) + 0.5,
                 "quantity": rng.randrange(1, 4), "demo_id": f"{marker}-{i}"}
                for i in range(rng.randrange(1, 4))
            ]  # fmt: skip
            event = {**base, "type": "track", "event": "Order Completed",
                     "properties": {"order_id": marker, "currency": "USD", "products": products}}  # fmt: skip
        elif roll < 0.85:
            event = {
                **base,
                "type": "page",
                "name": rng.choice(["Home", "Pricing", "Docs"]),
                "properties": {"demo_id": marker},
            }
        elif roll < 0.92:
            event = {**base, "type": "screen", "name": "Settings", "properties": {"demo_id": marker}}
        elif roll < 0.97:
            event = {**base, "type": "group", "groupId": f"g-{marker}", "traits": {"name": "Acme"}}
        else:
            event = {**base, "type": "alias", "previousId": f"old-{marker}"}
        events.append(event)
    return events


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
class Sent:
    """One HTTP request as RudderStack's webhook destination would make it, retried on 5xx and timeouts."""

    events: list[JSON]
    first_sent: float = 0.0
    statuses: list[int | str] = field(default_factory=list)
    bodies: list[Any] = field(default_factory=list)


class RudderStackSender:
    """Posts bodies and retries them as rudder-server does: 5xx, 429 and connection failures are retried with
    the same payload (same messageIds); 2xx and other 4xx end the job."""

    def __init__(self, url: str, token: str, max_attempts: int = 30, backoff: float = 0.5) -> None:
        self.url, self.token = url, token
        self.http = urllib3.PoolManager(maxsize=8, retries=False)
        self.max_attempts, self.backoff = max_attempts, backoff

    def send(self, sent: Sent, path: str = "/v1/webhook") -> Sent:
        body = json.dumps(sent.events[0] if len(sent.events) == 1 else sent.events).encode()
        sent.first_sent = time.time()
        for attempt in range(self.max_attempts):
            try:
                answer = self.http.request(
                    "POST", self.url + path, body=body,
                    headers={"Content-Type": "application/json", "Authorization": f"Bearer {self.token}"},
                    timeout=urllib3.Timeout(connect=2, read=15),
                )  # fmt: skip
            except urllib3.exceptions.HTTPError as exc:
                sent.statuses.append(type(exc).__name__)
            else:
                sent.statuses.append(answer.status)
                sent.bodies.append(json.loads(answer.data or b"null"))
                if answer.status < 500 and answer.status != 429:
                    return sent
            time.sleep(min(self.backoff * 2**attempt, 5.0))
        return sent

    def send_all(
        self, bodies: list[list[JSON]], threads: int = 1, repeat_share: float = 0.0, seed: int = 3
    ) -> list[Sent]:
        """Send every body; ``repeat_share`` of them are sent again afterwards, as RudderStack does when it never
        saw the answer (same payload, same messageIds).

        One thread by default: RudderStack sends a user's events one after the other (``guaranteeUserEventOrder``),
        and the ledger checks Braze's final profiles against that order; more threads send out of order."""
        with ThreadPoolExecutor(threads) as pool:
            done = list(pool.map(lambda events: self.send(Sent(events)), bodies))
        rng = random.Random(seed)
        repeats = [s for s in done if rng.random() < repeat_share]
        with ThreadPoolExecutor(threads) as pool:
            done += list(pool.map(lambda s: self.send(Sent(s.events)), repeats))
        return done


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


def reconcile(
    events: list[JSON],
    *,
    settings: BrazeSettings,
    sent: list[Sent],
    stored: list[JSON],
    dead_letters: list[JSON],
    braze_stats: JSON,
) -> Summary:
    """Event by event: was what the mapping says stored exactly once (or dead-lettered with a reason)?"""
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


def batches(events: list[JSON], seed: int = 5, max_size: int = 40) -> list[list[JSON]]:
    """Cut the workload into request bodies: mostly single events (the classic Webhook destination), some arrays
    (the HTTP Webhook destination batches up to 100)."""
    rng = random.Random(seed)
    bodies, index = [], 0
    while index < len(events):
        size = 1 if rng.random() < 0.5 else rng.randrange(2, max_size)
        bodies.append(events[index : index + size])
        index += size
    return bodies
