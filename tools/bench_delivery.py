"""Delivery figures for ``make bench``: Braze requests and data points per 1,000 events, pacing against a
rate-limited Braze simulator, and the cold import of each handler from the built artifact."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from local.braze_simulator import BrazeSimulator, SimulatorServer
from rudder_braze.braze.client import BrazeClient, ClientTiming
from rudder_braze.braze.requests import TRACK, BrazeRequest
from rudder_braze.config import load_settings
from rudder_braze.delivery.dedup import NON_BILLABLE
from rudder_braze.delivery.packing import pack
from rudder_braze.usecases.transform import pack_results, transform_events

ROOT = Path(__file__).resolve().parent.parent
_NOT_DATA = ("external_id", "user_alias", "braze_id")


def _attribute_points(value: Any) -> int:
    """Braze bills each attribute set, each key of a nested object, an array as one (facts sheet A5)."""
    if isinstance(value, dict) and not any(k.startswith("$") for k in value):
        return sum(_attribute_points(v) for v in value.values()) or 1
    return 1


def data_points(requests: list[BrazeRequest]) -> int:
    points = 0
    for request in requests:
        if request.path != TRACK:
            continue
        points += len(request.body.get("events", ())) + len(request.body.get("purchases", ()))
        for attributes in request.body.get("attributes", ()):
            points += sum(
                _attribute_points(v)
                for k, v in attributes.items()
                if k not in _NOT_DATA and not k.startswith("_") and k not in NON_BILLABLE
            )
    return points


def packing_figures(lines: list[str]) -> dict[str, float]:
    """The whole workload as one delivery batch, packed as the delivery path packs it."""
    events = [json.loads(line) for line in lines]
    per_1000 = 1000 / len(events)
    figures: dict[str, float] = {}
    for key, rule in (("braze_requests_per_1000", "per-array-75"), ("braze_requests_per_1000_total_rule", "total-75")):
        settings = load_settings({"trackBatchRule": rule})
        figures[key] = len(pack_results(transform_events(events, settings), settings)) * per_1000
    settings = load_settings({"trackBatchRule": "per-array-75"})
    results = transform_events(events, settings)
    accepted = [(r.key, r.requests) for r in results if r.requests is not None]
    rudderstack_way = pack(accepted, settings.track_batch_rule)  # no coalescing, every merge sent
    figures["braze_requests_per_1000_without_coalescing"] = len(rudderstack_way) * per_1000
    # Data points as the events arrive from RudderStack's Webhook destination, one per request, each delivered on
    # its own; with supportDedup the fingerprints of what was sent persist from one event to the next. Steady state
    # ("dedup"): the store already knows these users from an earlier pass of the workload, as RudderStack's lookup
    # finds existing Braze profiles; cold ("dedup_cold"): the store starts empty.
    figures["data_points_per_1000"] = sum(data_points(r.requests or []) for r in results) * per_1000
    deduplicating = load_settings({"trackBatchRule": "per-array-75", "supportDedup": True})
    for key, store in (("data_points_per_1000_dedup_cold", {}), ("data_points_per_1000_dedup", _warm(events))):
        deduplicated = transform_events(events, deduplicating, fingerprints=store)
        figures[key] = sum(data_points(r.requests or []) for r in deduplicated) * per_1000
    figures["data_points_per_1000_batched"] = data_points(pack_results(results, settings)) * per_1000
    return figures


def _warm(events: list[dict[str, Any]]) -> dict[str, Any]:
    store: dict[str, Any] = {}
    transform_events(events, load_settings({"supportDedup": True}), fingerprints=store)
    return store


def rate_limit_run(limit: int = 20, seconds: float = 12.0, pace: bool = True) -> dict[str, Any]:
    """Send small /users/track requests back to back for ``seconds`` to a simulator allowing ``limit`` per second."""
    server = SimulatorServer(BrazeSimulator("bench-key")).start()
    server.simulator.set_faults({"rate_limits": {"/users/track": [limit, 1.0]}})
    client = BrazeClient(server.url, lambda: "bench-key", pace=pace, timing=ClientTiming(max_pace_wait=5.0))
    body = {"partner": "RudderStack", "events": [{"name": "Bench", "time": "2024-01-01T00:00:00Z", "external_id": "u"}]}
    timeline: list[tuple[float, int | None]] = []
    start = time.time()
    while time.time() - start < seconds:
        sent_at = time.time()
        answer = client.send(BrazeRequest(TRACK, body))
        timeline.append((sent_at, answer.status))
    server.stop()
    # Whole windows only (the simulator's windows are whole seconds): the first and the last are partial.
    windows = sorted({int(t) for t, _ in timeline})[1:-1]
    steady = [(t, s) for t, s in timeline if int(t) in windows]
    accepted = sum(1 for _, s in steady if s is not None and s < 300)
    throttled = sum(1 for _, s in steady if s == 429)
    return {
        "utilisation": accepted / (limit * len(windows)),
        "throttled_share": throttled / max(1, len(steady)),
        "timeline": [(t - start, s) for t, s in timeline],
        "limit": limit,
    }


# What each handler imports from Powertools (the part of its cold import this project cannot shorten).
POWERTOOLS_IMPORTS = {
    "ingest": "from aws_lambda_powertools import Logger, Metrics; "
    "from aws_lambda_powertools.event_handler import APIGatewayRestResolver",
    "retry": "from aws_lambda_powertools import Logger, Metrics",
}


def cold_import_ms(python: str, runs: int = 15) -> dict[str, float]:
    """Import of each handler from ``.aws-sam/build`` (function dir + layer, with the layer's precompiled bytecode)
    in a fresh ``python`` each run, timed around the import itself: that is the handler's share of a cold start,
    without the interpreter's start or its exit. The handler and the Powertools modules it uses are timed in turns
    (this machine's speed drifts from one second to the next); medians of ``runs``, and the fastest handler run."""
    build = ROOT / ".aws-sam" / "build"
    layer = build / "SharedLayer" / "python"
    if not layer.is_dir():
        raise RuntimeError("no .aws-sam/build: run `make build` first")
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONDONTWRITEBYTECODE": "1", "AWS_DEFAULT_REGION": "us-east-1"}

    def once(path: Path, statement: str) -> float:
        code = (
            f"import sys, time; sys.path[:0] = [{str(path)!r}, {str(layer)!r}]; started = time.perf_counter(); "
            f"{statement}; print((time.perf_counter() - started) * 1000)"
        )
        return float(subprocess.run([python, "-c", code], check=True, env=env, capture_output=True, text=True).stdout)

    figures = {}
    for name, function in (("ingest", "IngestFunction"), ("retry", "RetryFunction")):
        handler, powertools = [], []
        for _ in range(runs):
            handler.append(once(build / function, "import app"))
            powertools.append(once(build / function, POWERTOOLS_IMPORTS[name]))
        figures[f"cold_import_{name}_ms"] = statistics.median(handler)
        figures[f"cold_import_{name}_fastest_ms"] = min(handler)
        figures[f"cold_import_{name}_powertools_ms"] = statistics.median(powertools)
    figures["cold_import_ms"] = max(figures["cold_import_ingest_ms"], figures["cold_import_retry_ms"])
    return figures


def chart(paced: dict[str, Any], unpaced: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(2, 1, figsize=(8, 6), sharex=True)
    for axis, run, title in (
        (axes[0], paced, "paced on X-RateLimit-Remaining/Reset (this bridge)"),
        (axes[1], unpaced, "not paced: requests sent as fast as answers come"),
    ):
        horizon = int(max(t for t, _ in run["timeline"])) + 1
        accepted = [0] * horizon
        throttled = [0] * horizon
        for t, status in run["timeline"]:
            if status == 429:
                throttled[int(t)] += 1
            elif status is not None and status < 300:
                accepted[int(t)] += 1
        axis.plot(range(horizon), accepted, marker="o", label="accepted per second")
        axis.plot(range(horizon), throttled, marker="x", label="429 per second")
        axis.axhline(run["limit"], color="black", linewidth=0.8, linestyle="--", label="rate limit")
        axis.set_yscale("symlog", linthresh=30)
        axis.set_ylim(bottom=0)
        axis.set_ylabel("requests/s")
        axis.set_title(title, fontsize=9)
        axis.legend(fontsize=7, loc="upper right")
    axes[1].set_xlabel("seconds")
    figure.suptitle("Braze /users/track under a 20 requests/s limit (simulator)", fontsize=10)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def python313() -> str:
    return subprocess.run(
        [str(ROOT / "tools" / "find-python313")], capture_output=True, text=True, check=True
    ).stdout.strip()


if __name__ == "__main__":
    print(json.dumps(cold_import_ms(python313() or sys.executable)))
