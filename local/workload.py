"""A generated RudderStack workload and a sender that behaves like RudderStack's Webhook destination.

Every generated event carries a unique marker in what reaches Braze (a trait, a property, a product field, a
group id, an alias), so each Braze object the simulator stored can be traced to one event (:mod:`local.ledger`).
"""

from __future__ import annotations

import json
import random
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import urllib3

JSON = dict[str, Any]


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
