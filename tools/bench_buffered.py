"""Buffered mode measured end to end for ``make bench``: the workload posted over HTTP to the local stack (API
Gateway → ingest → delivery queue on moto), one delivery batch through the retry function, Braze's side counted
by the simulator. With ``supportDedup``, the workload goes through twice (fresh messageIds): the first pass starts
from an empty fingerprint table, the second finds every user's fingerprints there (steady state)."""

from __future__ import annotations

import copy
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import bench_delivery

from local.stack import LocalStack
from rudder_braze.braze.requests import TRACK, BrazeRequest

# The window only has to outlast receiving the queued workload: all 1,000 events are queued before the batch.
BUFFERED = {"DeliveryMode": "buffered", "DeliveryBatchSize": "1000", "DeliveryBatchWindowSeconds": "60"}
QUIET = {"POWERTOOLS_LOG_LEVEL": "WARNING", "POWERTOOLS_METRICS_DISABLED": "true"}
BODY_SIZE = 100  # events per webhook call


def _pass(stack: LocalStack, events: list[dict[str, Any]], suffix: str) -> tuple[Counter[str], int]:
    """Post the events, deliver them as one batch; Braze requests by endpoint and data points stored."""
    stack.simulator.reset()
    stack.simulator.set_faults({"track_rule": "per-array-75"})  # the account's limit is the config's
    renamed = copy.deepcopy(events)
    for event in renamed:
        event["messageId"] = f"{event.get('messageId')}{suffix}"
    for start in range(0, len(renamed), BODY_SIZE):
        status, _ = stack.post("/v1/webhook", renamed[start : start + BODY_SIZE])
        if status not in (202, 400):  # 400: the workload's few invalid events; the rest are queued
            raise RuntimeError(f"the webhook answered {status}")
    delivery = stack.event_sources[1]
    while delivery.queue_depth():
        delivery.poll_once(wait_seconds=0)
    with stack.simulator.lock:
        requests = Counter(r["path"] for r in stack.simulator.requests if r.get("status") in (200, 201))
        stored: dict[str, list[Any]] = {}
        for item in stack.simulator.stored:
            stored.setdefault(item.kind, []).append(item.obj)
    body = {kind: stored.get(kind, []) for kind in ("attributes", "events", "purchases")}
    return requests, bench_delivery.data_points([BrazeRequest(TRACK, body)])


def _stack(config: dict[str, Any], logs: Path) -> LocalStack:
    return LocalStack(poll=False, parameters=BUFFERED, braze_config=config, env_overrides=QUIET, log_dir=logs).start()


def buffered_figures(events: list[dict[str, Any]]) -> dict[str, float]:
    per_1000 = 1000 / len(events)
    figures: dict[str, float] = {}
    config = {"trackBatchRule": "per-array-75"}  # RudderStack's default limit
    with tempfile.TemporaryDirectory() as logs:  # the functions' logs and metrics, as CloudWatch would get them
        with _stack(config, Path(logs)) as stack:
            requests, points = _pass(stack, events, "")
        with _stack({**config, "supportDedup": True}, Path(logs)) as stack:
            _, cold = _pass(stack, events, "-first")
            _, warm = _pass(stack, events, "-again")
    figures["braze_requests_per_1000_buffered_measured"] = sum(requests.values()) * per_1000
    figures["data_points_per_1000_buffered"] = points * per_1000
    figures["data_points_per_1000_buffered_dedup_cold"] = cold * per_1000
    figures["data_points_per_1000_buffered_dedup"] = warm * per_1000
    return figures
