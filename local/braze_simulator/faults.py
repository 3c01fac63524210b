"""What can go wrong at the simulated Braze: injected faults, and the rate-limit windows Braze enforces."""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field

# Braze's default limits: /users/track 3,000 per 3 s; identify/merge/delete share 20,000 per minute; subscription
# status 5,000 per minute.
DEFAULT_LIMITS: dict[str, tuple[int, float]] = {
    "/users/track": (3000, 3.0),
    "identity": (20000, 60.0),
    "/v2/subscription/status/set": (5000, 60.0),
}
LIMIT_GROUP = {"/users/identify": "identity", "/users/merge": "identity", "/users/delete": "identity"}


@dataclass
class Faults:
    """What can go wrong, each a share of requests (0..1) unless said otherwise."""

    throttle_rate: float = 0.0  # answer 429 (with reset headers) before processing
    error_rate: float = 0.0  # answer 500/502/503 before processing
    drop_rate: float = 0.0  # close the connection without an answer, before processing
    timeout_rate: float = 0.0  # hold the request for ``timeout_seconds`` before processing (a client timeout)
    timeout_seconds: float = 10.0
    latency_ms: float = 0.0  # added to every request
    outage_until: float = 0.0  # epoch seconds: every request fails with 503 until then
    rate_limits: dict[str, tuple[int, float]] = field(default_factory=dict)  # path or group → (limit, window s)
    track_rule: str = "total-75"  # "total-75" (Braze's current docs), "total-50" (MAU plans), "per-array-75"
    reject_permanently: list[str] = field(default_factory=list)  # event names answered with a whole-request 400
    seed: int | None = None

    def injected(self, roll: float, rng: random.Random) -> tuple[int | str, str] | None:
        """The fault a request whose draw is ``roll`` meets, if any: its status (``"dropped"``: no answer,
        ``"timeout"``: held, then no answer) and message. Each fault takes its share of [0, 1) in turn."""
        faults: list[tuple[float, Callable[[], tuple[int | str, str]]]] = [
            (self.throttle_rate, lambda: (429, "Rate limit exceeded")),
            (self.error_rate, lambda: (rng.choice([500, 502, 503]), "Internal Server Error")),
            (self.drop_rate, lambda: ("dropped", "")),
            (self.timeout_rate, lambda: ("timeout", "")),
        ]
        for rate, fault in faults:
            if roll < rate:
                return fault()
            roll -= rate
        return None


class RateWindow:
    """A fixed rate-limit window, as Braze reports it (limit, remaining, reset at epoch seconds)."""

    def __init__(self, limit: int, seconds: float) -> None:
        self.limit, self.seconds = limit, seconds
        self.start = 0.0
        self.used = 0

    def take(self, now: float) -> tuple[bool, int, float]:
        if now >= self.start + self.seconds:
            self.start = math.floor(now / self.seconds) * self.seconds
            self.used = 0
        reset = self.start + self.seconds
        if self.used >= self.limit:
            return False, 0, reset
        self.used += 1
        return True, self.limit - self.used, reset
