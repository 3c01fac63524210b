"""The bill per million events, from the calls and billed units counted on the local stack (``bench_calls``).

What is counted per event on each path: webhook calls, Braze requests, AWS calls and the units AWS bills for them.
What is assumed (stated in docs/performance.md): us-east-1 list prices, the network's latencies, the share of
events that meet a throttled Braze, and how many calls a batched body makes side by side.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from local.template import Template

PRICE_API = {"http": 1.00 / 1e6, "rest": 3.50 / 1e6}  # per request
PRICE_GB_S = 0.0000133334  # Lambda on arm64
PRICE_LAMBDA_REQUEST = 0.20 / 1e6
PRICE_SQS = {"fifo": 0.50 / 1e6, "standard": 0.40 / 1e6}  # per request (64 KB)
PRICE_WRITE_UNIT = 0.625 / 1e6  # DynamoDB on demand
PRICE_READ_UNIT = 0.125 / 1e6
BRAZE_RTT_MS = 60.0
DYNAMODB_MS = 5.0
SQS_MS = 10.0
RETRIED_SHARE = 0.02  # events that meet a 429/5xx in steady state and go through the retry queue once
SIDE_BY_SIDE = 8  # calls a body of many events makes at once (the package's pool)
POLLER_REQUESTS = 2 / 10  # Lambda's poller: a receive and a delete per 10 messages (not counted on the local stack)
DELIVERY_BATCH = 1000  # buffered: events per delivery-function invocation at volume
GOALS = {"direct": 2.50, "buffered": 2.50, "batched100": 0.40}
# The same setups with SendersKeepUserOrder on, priced against the same goals.
IN_ORDER = {"direct_in_order": "direct", "batched100_in_order": "batched100", "buffered_in_order": "buffered"}
PRICED = {**GOALS, **{path: GOALS[base] for path, base in IN_ORDER.items()}}


@cache
def memory_gb() -> float:
    """The functions' memory, as the template sets it."""
    return float(Template("dev").doc["Globals"]["Function"]["MemorySize"]) / 1024


@dataclass(frozen=True)
class Bill:
    """Dollars per million events, by service."""

    gb_s: float
    invocations: float
    api_requests: float
    sqs_requests: float
    write_units: float
    read_units: float
    sqs_price: float

    def lambda_dollars(self) -> float:
        return 1e6 * (self.gb_s * PRICE_GB_S + self.invocations * PRICE_LAMBDA_REQUEST)

    def sqs_dollars(self) -> float:
        return 1e6 * self.sqs_requests * self.sqs_price

    def dynamodb_dollars(self) -> float:
        return 1e6 * (self.write_units * PRICE_WRITE_UNIT + self.read_units * PRICE_READ_UNIT)

    def api_dollars(self, api: str) -> float:
        return 1e6 * self.api_requests * PRICE_API[api]

    def total(self, api: str) -> float:
        return self.api_dollars(api) + self.lambda_dollars() + self.sqs_dollars() + self.dynamodb_dollars()


def _per_event(figures: dict[str, float], path: str, prefix: str) -> float:
    return sum(v for k, v in figures.items() if k.startswith(f"calls_{path}_{prefix}"))


def braze_requests_per_event(figures: dict[str, float], path: str) -> float:
    """Counted, except in buffered mode: there the calls were counted on a trickle of events whose delivery batches
    stay small, so the requests of full batches at volume are the ones measured over the reference workload."""
    if path.startswith("buffered"):
        return figures["braze_requests_per_1000_buffered_measured"] / 1000
    return figures.get(f"calls_{path}_braze.requests", 0.0)


def _waits_ms(figures: dict[str, float], path: str) -> float:
    """Per event, the time a path's counted calls keep a function waiting."""
    return (
        _per_event(figures, path, "dynamodb.") * DYNAMODB_MS
        + _per_event(figures, path, "sqs.") * SQS_MS
        + braze_requests_per_event(figures, path) * BRAZE_RTT_MS
    )


def seconds_per_event(figures: dict[str, float], path: str, compute_us: float) -> float:
    """Lambda time per event on a path: the measured compute plus the waits of its counted calls (side by side
    when a body holds many events), and the retried share's trip through the retry queue (the recovery path)."""
    side_by_side = 1 if figures[f"calls_{path}_webhook.calls"] >= 1 else SIDE_BY_SIDE
    waits_ms = _waits_ms(figures, path) / side_by_side + RETRIED_SHARE * _waits_ms(figures, "recovery")
    return compute_us / 1e6 + waits_ms / 1000


def bill(figures: dict[str, float], path: str, compute_us: float, memory: float) -> Bill:
    """A path's bill per event: its counted units, its Lambda time (:func:`seconds_per_event`), and the retried
    share's trip through the retry queue (the counted recovery path)."""
    webhook_calls = figures[f"calls_{path}_webhook.calls"]
    seconds = seconds_per_event(figures, path, compute_us)
    buffered = path.startswith("buffered")
    units = {kind: figures.get(f"calls_{path}_units.{kind}", 0.0) for kind in ("dynamodb_write", "dynamodb_read",
                                                                                "sqs_request")}  # fmt: skip
    retried = {kind: figures.get(f"calls_recovery_units.{kind}", 0.0) for kind in units}
    return Bill(
        gb_s=seconds * memory,
        invocations=webhook_calls + (1 / DELIVERY_BATCH if buffered else 0.0) + RETRIED_SHARE / 10,
        api_requests=webhook_calls,
        # the retried share: one FIFO send, then the recovery path's requests
        sqs_requests=units["sqs_request"]
        + (POLLER_REQUESTS if buffered else 0.0)
        + RETRIED_SHARE * (1 + retried["sqs_request"]),
        write_units=units["dynamodb_write"] + RETRIED_SHARE * retried["dynamodb_write"],
        read_units=units["dynamodb_read"] + RETRIED_SHARE * retried["dynamodb_read"],
        sqs_price=PRICE_SQS["standard" if buffered else "fifo"],
    )


def cost_figures(figures: dict[str, float]) -> dict[str, float]:
    """``cost_per_million_<path>`` behind the default HTTP API, ``…_rest`` behind a REST API."""
    memory = memory_gb()
    out: dict[str, float] = {}
    for path in PRICED:
        path_bill = bill(figures, path, figures["whole_us"], memory)
        out[f"cost_per_million_{path}"] = path_bill.total("http")
        out[f"cost_per_million_{path}_rest"] = path_bill.total("rest")
    return out
