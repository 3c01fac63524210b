"""For ``make bench``: the AWS and Braze calls per event on each path, counted on the local stack.

200 events of 60 users (the reference workload's 0.3 users per event), each in its own webhook call (RudderStack's
Webhook destination sends one event per request) or 100 per call (its HTTP Webhook destination's batches), on each
path of :data:`PATHS`. Counted: every AWS call the functions make and the units AWS bills for them
(local.aws_calls), the webhook calls, and the requests the Braze simulator received. Not counted: the event source
mappings' own SQS receives and deletes (made by Lambda's pollers, one of each per batch of up to 10 messages)."""

from __future__ import annotations

import tempfile
from collections import Counter
from pathlib import Path

from local.aws_calls import install
from local.stack import COMPRESSED_RETRY_TIMING, LocalStack
from local.workload import generate

EVENTS = 200
QUIET = {"POWERTOOLS_LOG_LEVEL": "WARNING", "POWERTOOLS_METRICS_DISABLED": "true"}
# Column of the table in docs/performance.md → what it counts.
PATHS = {
    "direct": "direct, Braze healthy",
    "throttled": "direct, while Braze throttles every request (webhook and retry attempts)",
    "recovery": "then Braze back (the retry function delivers the queued events)",
    "buffered": "buffered (webhook, then the delivery function's batch, full as at volume: the 200 events at once)",
    "batched100": "direct, 100 events per webhook call (RudderStack's HTTP Webhook destination batches)",
    "direct_in_order": "direct, one event per call, `SendersKeepUserOrder` on (turns read, not taken)",
    "batched100_in_order": "direct, 100 events per call, `SendersKeepUserOrder` on",
    "buffered_in_order": "buffered, the same, `SendersKeepUserOrder` on",
}


def _post(stack: LocalStack, tag: str, per_call: int) -> int:
    """The workload's events, ``per_call`` to a webhook call (one: the event alone, else an array); the calls made."""
    events = generate(EVENTS, users=60, seed=11, invalid_share=0.0)
    for event in events:
        event["messageId"] = f"{tag}-{event['messageId']}"
    bodies = events if per_call == 1 else [events[i : i + per_call] for i in range(0, len(events), per_call)]
    for body in bodies:
        status, answer = stack.post("/v1/webhook", body)
        if status not in (200, 202):
            raise RuntimeError(f"the webhook answered {status}: {answer}")
    return len(bodies)


def _run(mode: str, throttled: bool, per_call: int = 1, *, in_order: bool = False) -> dict[str, Counter[str]]:
    calls = install()
    parameters = {"DeliveryMode": mode, "SendersKeepUserOrder": str(in_order).lower()}
    buffered = mode == "buffered"
    if buffered:  # one delivery batch of the whole workload, as a busy stage's batches are full
        parameters.update(DeliveryBatchSize=str(EVENTS), DeliveryBatchWindowSeconds="60")
    with tempfile.TemporaryDirectory() as logs:
        # Buffered: the queues polled once everything is posted (wait_until_drained), so that how Lambda's pollers
        # would have split the batches does not move the count from one run to the next.
        stack = LocalStack(parameters=parameters, env_overrides={**QUIET, **COMPRESSED_RETRY_TIMING},
                           log_dir=Path(logs), poll=not buffered)  # fmt: skip
        with stack.start():
            calls.take()
            if throttled:
                stack.simulator.set_faults({"throttle_rate": 1.0})
            tag = f"{mode}-{throttled}-{per_call}-{in_order}"
            webhook_calls = Counter({"webhook.calls": _post(stack, tag, per_call)})
            if throttled:
                first = calls.take() + webhook_calls + Counter({"braze.requests": stack.simulator.stats()["requests"]})
                stack.simulator.reset()
            if not stack.wait_until_drained(timeout=180):
                raise RuntimeError("the queues did not drain")
            counted = calls.take() + Counter({"braze.requests": stack.simulator.stats()["requests"]})
    if throttled:
        return {"throttled": first, "recovery": counted}
    path = (mode if per_call == 1 else f"batched{per_call}") + ("_in_order" if in_order else "")
    return {path: counted + webhook_calls}


def calls_figures() -> dict[str, float]:
    """``calls_<path>_<service.Operation>`` per event, and ``calls_<path>_aws`` (every AWS call) per event."""
    runs: dict[str, Counter[str]] = {}
    runs.update(_run("direct", throttled=False))
    runs.update(_run("direct", throttled=True))
    runs.update(_run("buffered", throttled=False))
    runs.update(_run("direct", throttled=False, per_call=100))
    runs.update(_run("direct", throttled=False, in_order=True))
    runs.update(_run("direct", throttled=False, per_call=100, in_order=True))
    runs.update(_run("buffered", throttled=False, in_order=True))
    figures: dict[str, float] = {}
    for path, counted in runs.items():
        for call, count in counted.items():
            figures[f"calls_{path}_{call}"] = count / EVENTS
        aws = sum(n for call, n in counted.items() if call.split(".", 1)[0] in ("dynamodb", "sqs", "ssm"))
        figures[f"calls_{path}_aws"] = aws / EVENTS
    return figures
