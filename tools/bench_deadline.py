"""For ``make bench``: how long the webhook takes to answer a ``MAX_EVENTS`` body of events of new users, through
the local stack with the function held to its template timeout, in each delivery mode, with Braze healthy and with
Braze hanging (holding every request past the read timeout). An answer past the timeout is the local API Gateway's
502, and the figure is then the timeout itself: the figure is below the timeout exactly when the body was answered
in time."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from local.stack import LocalStack
from rudder_braze.limits import MAX_EVENTS

QUIET = {"POWERTOOLS_LOG_LEVEL": "WARNING", "POWERTOOLS_METRICS_DISABLED": "true"}


def _body(tag: str) -> dict[str, Any]:
    return {"batch": [{"type": "track", "userId": f"new-user-{tag}-{n}", "event": "Signed Up",
                       "messageId": f"deadline-{tag}-{n}", "timestamp": "2026-12-04T10:00:00Z"}
                      for n in range(MAX_EVENTS)]}  # fmt: skip


def answer_ms(mode: str, braze: str) -> tuple[float, int]:
    """Milliseconds to the answer, and its status."""
    with tempfile.TemporaryDirectory() as logs:
        stack = LocalStack(parameters={"DeliveryMode": mode}, env_overrides=QUIET, poll=False, log_dir=Path(logs))
        stack.start()
        try:
            if braze == "hanging":
                stack.simulator.set_faults({"timeout_rate": 1.0, "timeout_seconds": 30})
            started = time.monotonic()
            status, _ = stack.post("/v1/batch", _body(f"{mode}-{braze}"))
            return (time.monotonic() - started) * 1000, status
        finally:
            stack.stop()


def deadline_figures() -> dict[str, float]:
    figures: dict[str, float] = {}
    for mode in ("direct", "buffered"):
        for braze in ("healthy", "hanging"):
            elapsed, status = answer_ms(mode, braze)
            figures[f"ingest_max_events_fresh_users_ms_{mode}_{braze}"] = elapsed
            figures[f"ingest_max_events_fresh_users_status_{mode}_{braze}"] = status
    return figures
