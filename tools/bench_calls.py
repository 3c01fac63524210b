"""For ``make bench``: the AWS and Braze calls per event on each path, counted on the local stack.

200 events of 60 users (the reference workload's 0.3 users per event), each in its own webhook call (RudderStack's
Webhook destination sends one event per request), on each path of :data:`PATHS`. Counted: every AWS call the functions
make (local.aws_calls), and the requests the Braze simulator received. Not counted: the event source mappings'
own SQS receives and deletes (made by Lambda's pollers, one of each per batch of up to 10 messages)."""

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
    "buffered": "buffered (webhook, then delivery batches)",
}


def _post_each(stack: LocalStack, tag: str) -> int:
    events = generate(EVENTS, users=60, seed=11, invalid_share=0.0)
    for event in events:
        event["messageId"] = f"{tag}-{event['messageId']}"
        status, answer = stack.post("/v1/webhook", event)
        if status not in (200, 202):
            raise RuntimeError(f"the webhook answered {status}: {answer}")
    return len(events)


def _run(mode: str, throttled: bool) -> dict[str, Counter[str]]:
    calls = install()
    with tempfile.TemporaryDirectory() as logs:
        stack = LocalStack(parameters={"DeliveryMode": mode}, env_overrides={**QUIET, **COMPRESSED_RETRY_TIMING},
                           log_dir=Path(logs))  # fmt: skip
        with stack.start():
            calls.take()
            if throttled:
                stack.simulator.set_faults({"throttle_rate": 1.0})
            _post_each(stack, f"{mode}-{throttled}")
            if throttled:
                first = calls.take() + Counter({"braze.requests": stack.simulator.stats()["requests"]})
                stack.simulator.reset()
            if not stack.wait_until_drained(timeout=180):
                raise RuntimeError("the queues did not drain")
            counted = calls.take() + Counter({"braze.requests": stack.simulator.stats()["requests"]})
    if throttled:
        return {"throttled": first, "recovery": counted}
    return {mode: counted}


def calls_figures() -> dict[str, float]:
    """``calls_<path>_<service.Operation>`` per event, and ``calls_<path>_aws`` (every AWS call) per event."""
    runs: dict[str, Counter[str]] = {}
    runs.update(_run("direct", throttled=False))
    runs.update(_run("direct", throttled=True))
    runs.update(_run("buffered", throttled=False))
    figures: dict[str, float] = {}
    for path, counted in runs.items():
        for call, count in counted.items():
            figures[f"calls_{path}_{call}"] = count / EVENTS
        figures[f"calls_{path}_aws"] = sum(n for call, n in counted.items() if not call.startswith("braze.")) / EVENTS
    return figures
