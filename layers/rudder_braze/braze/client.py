"""The Braze REST client: one urllib3 pool per process, explicit timeouts, no automatic retries, and a pure
classification of every answer into what the delivery policy must do with it."""

from __future__ import annotations

import enum
import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rudder_braze.braze.requests import BrazeRequest

if TYPE_CHECKING:  # urllib3 is imported with the first client (about 40 ms): a 401 or an invalid body never needs it
    import urllib3


class Outcome(enum.StrEnum):
    DELIVERED = "delivered"  # Braze accepted everything
    PARTIAL = "partial"  # accepted, but Braze named some objects in errors[]: those are never retried
    THROTTLED = "throttled"  # 429: retry after the rate-limit window resets
    RETRYABLE = "retryable"  # 5xx, timeout, connection failure: retry with backoff
    PERMANENT = "permanent"  # any other answer: retrying cannot help; dead-letter with the reason


@dataclass(frozen=True, slots=True)
class BrazeResponse:
    """What came back for one request: an HTTP answer, or ``status=None`` and the transport error."""

    status: int | None
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)
    error: str | None = None
    elapsed_ms: float = 0.0
    # The request was sent and no answer came in time: Braze may have stored it. Sending it again may store it
    # twice; not sending it may lose it. The bridge sends it again (nothing lost) and counts it.
    ambiguous: bool = False


@dataclass(frozen=True, slots=True)
class ItemError:
    """One object Braze refused inside an accepted ``/users/track`` request."""

    array: str
    index: int
    reason: str


@dataclass(frozen=True, slots=True)
class Classification:
    outcome: Outcome
    reason: str
    retry_after: float | None = None  # seconds until Braze's rate-limit window resets, when it said so
    item_errors: tuple[ItemError, ...] = ()


def _header(headers: Mapping[str, str], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name:
            return value
    return None


def _number(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _item_errors(errors: Any) -> tuple[ItemError, ...]:
    found = []
    for error in errors if isinstance(errors, list) else ():
        if not isinstance(error, dict):
            continue
        if isinstance(error.get("index"), int) and isinstance(error.get("input_array"), str):
            found.append(ItemError(error["input_array"], error["index"], str(error.get("type", "invalid"))))
    return tuple(found)


def _summary(body: Any) -> str:
    text = body if isinstance(body, str) else json.dumps(body, separators=(",", ":"))
    return text[:300]


def classify(response: BrazeResponse, now: float | None = None) -> Classification:
    """Decide what an answer means, following RudderStack's rules and Braze's documented responses.

    * no HTTP answer (timeout, refused, reset, DNS) or 5xx → retryable;
    * 429 → throttled, retry after ``X-RateLimit-Reset`` (epoch seconds) when Braze sent it;
    * 2xx → delivered, unless the body says a ``message`` other than ``"success"`` together with ``errors[]``
      (Braze rejected the whole request: permanent); ``message: "success"`` with ``errors[]`` is a partial success;
    * anything else (400, 401, 403, 404, …) → permanent.
    """
    status, body = response.status, response.body
    if status is None:
        return Classification(Outcome.RETRYABLE, f"no answer from Braze: {response.error or 'unknown error'}")
    if status == 429:
        reset = _number(_header(response.headers, "x-ratelimit-reset"))
        now = time.time() if now is None else now
        return Classification(Outcome.THROTTLED, "Braze answered 429 (rate limited)",
                              max(0.0, reset - now) if reset else None)  # fmt: skip
    if status >= 500:
        return Classification(Outcome.RETRYABLE, f"Braze answered {status}: {_summary(body)}")
    if 200 <= status < 300:
        return _success(status, body)
    return Classification(Outcome.PERMANENT, f"Braze answered {status}: {_summary(body)}")


def _success(status: int, body: Any) -> Classification:
    """A 2xx: delivered, partly delivered (``errors[]`` with ``message: "success"``), or refused as a whole."""
    message = body.get("message") if isinstance(body, dict) else None
    errors = body.get("errors") if isinstance(body, dict) else None
    if message is not None and message != "success" and errors:
        return Classification(Outcome.PERMANENT, f"Braze answered {status}: {_summary(body)}")
    if errors:
        return Classification(
            Outcome.PARTIAL, f"Braze accepted with errors: {_summary(errors)}", item_errors=_item_errors(errors)
        )
    return Classification(Outcome.DELIVERED, f"Braze answered {status}")


class RatePacer:
    """Paces calls to one rate-limited Braze endpoint from the ``X-RateLimit-Remaining`` / ``X-RateLimit-Reset``
    of its last answer: the calls left in the window are spread evenly over the time left, and none is sent while
    the window is spent. A throttled workspace is then used close to its limit without a storm of 429s.

    Each process paces on its own view of the window; concurrent senders share the limit unknowingly (the retry
    function's ``MaximumConcurrency`` bounds how many there are).
    """

    def __init__(self, clock: Callable[[], float] = time.time, sleep: Callable[[float], None] = time.sleep) -> None:
        self._clock, self._sleep = clock, sleep
        self._lock = threading.Lock()
        self._next = 0.0  # epoch seconds before which the next call should not start

    def wait(self, max_wait: float = 30.0) -> None:
        with self._lock:
            delay = min(max_wait, self._next - self._clock())
        if delay > 0:
            self._sleep(delay)

    def observe(self, remaining: int | None, reset: float | None) -> None:
        if remaining is None or reset is None:
            return
        now = self._clock()
        with self._lock:
            if remaining <= 0:
                self._next = reset
            else:
                self._next = now + max(0.0, reset - now) / (remaining + 1)


@dataclass(frozen=True, slots=True)
class ClientTiming:
    """How long the client waits: to connect, for an answer, and at most before a paced call (a longer wait would
    eat the webhook's time budget)."""

    connect_timeout: float = 1.0
    read_timeout: float = 4.0
    max_pace_wait: float = 2.0


class BrazeClient:
    """Sends :class:`BrazeRequest` objects to one Braze REST endpoint.

    The pool is meant to live as long as the process (a Lambda container) so connections are kept alive between
    invocations. Retries are off: the delivery policy decides what happens after a failure.
    """

    def __init__(
        self,
        endpoint: str,
        api_key: Callable[[], str],
        *,
        timing: ClientTiming = ClientTiming(),
        pool: urllib3.PoolManager | None = None,
        pace: bool = True,
    ) -> None:
        import urllib3

        self._urllib3 = urllib3
        self.endpoint = endpoint.rstrip("/")
        self._api_key = api_key
        self._timeout = urllib3.Timeout(connect=timing.connect_timeout, read=timing.read_timeout)
        self._pool = pool or urllib3.PoolManager(num_pools=4, maxsize=4, retries=False, block=False)
        self._pace, self._max_pace_wait = pace, timing.max_pace_wait
        self._pacers: dict[str, RatePacer] = {}  # one per endpoint: Braze limits each endpoint (group) apart

    def send(self, request: BrazeRequest) -> BrazeResponse:
        payload = json.dumps(request.body, separators=(",", ":"), ensure_ascii=False).encode()
        headers = {
            "Content-Type": "application/json",
            "Accept": "application/json",
            "Authorization": f"Bearer {self._api_key()}",
        }
        pacer = self._pacers.setdefault(request.path, RatePacer()) if self._pace else None
        if pacer is not None:
            pacer.wait(self._max_pace_wait)
        started = time.perf_counter()
        try:
            answer = self._pool.request(
                "POST", self.endpoint + request.path, body=payload, headers=headers,
                timeout=self._timeout, retries=False, redirect=False,
            )  # fmt: skip
        except self._urllib3.exceptions.HTTPError as exc:
            # The exception text can hold the URL but never a header, so the key stays out of it.
            elapsed = (time.perf_counter() - started) * 1000
            ambiguous = isinstance(exc, self._urllib3.exceptions.ReadTimeoutError)
            return BrazeResponse(
                None, error=f"{type(exc).__name__}: {exc}"[:300], elapsed_ms=elapsed, ambiguous=ambiguous
            )
        elapsed = (time.perf_counter() - started) * 1000
        try:
            body: Any = json.loads(answer.data) if answer.data else ""
        except ValueError:
            body = answer.data.decode("utf-8", "replace")[:1000]
        headers = dict(answer.headers)
        if pacer is not None:
            remaining = _number(_header(headers, "x-ratelimit-remaining"))
            pacer.observe(
                int(remaining) if remaining is not None else None, _number(_header(headers, "x-ratelimit-reset"))
            )
        return BrazeResponse(answer.status, body, headers, elapsed_ms=elapsed)
