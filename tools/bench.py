"""``make bench``: throughput of the mapping engine over the reference workload (1,000 RudderStack events).

Every figure is a median over repeated passes, in µs per event, measured in this run next to the JSON floor F
(``json.loads`` of the event's line + ``json.dumps`` of its Braze requests), so the ratios hold across machines.
The last line printed is one JSON object of figures; later work adds keys, never renames them.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import bench_buffered
import bench_calls
import bench_deadline
import bench_delivery
import capacity_doc
import cost_model
import performance_doc

from rudder_braze.config import load_settings
from rudder_braze.mapping.transform import transform_event
from rudder_braze.rudderstack.validation import validate_event

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_WORKLOAD = Path(os.environ.get("RUDDER_BRAZE_SHARED", ROOT.parent / "shared")) / "bench" / "workload.jsonl"


def _requests_json(event: dict[str, Any], settings: Any) -> list[dict[str, Any]]:
    return [{"path": r.path, "body": r.body} for r in transform_event(event, settings)]


def median_us_per_event(run: Callable[[], None], events: int, passes: int) -> float:
    """Median over ``passes`` of one whole pass over the workload, per event."""
    samples = []
    for _ in range(passes):
        gc.collect()
        start = time.perf_counter_ns()
        run()
        samples.append((time.perf_counter_ns() - start) / 1000 / events)
    return statistics.median(samples)


def measure(lines: list[str], passes: int) -> dict[str, float]:
    settings = load_settings({"dataCenter": "US-01"})
    events = [json.loads(line) for line in lines]
    outputs = [_requests_json(event, settings) for event in events]
    loads, dumps = json.loads, json.dumps
    pairs = list(zip(lines, outputs, strict=True))

    def floor() -> None:
        for line, output in pairs:
            loads(line)
            dumps(output)

    def validate() -> None:
        for event in events:
            validate_event(event)

    def transform() -> None:
        for event in events:
            transform_event(event, settings)

    def whole() -> None:
        for line in lines:
            event = loads(line)
            validate_event(event)
            dumps([{"path": r.path, "body": r.body} for r in transform_event(event, settings)])

    for warm in (floor, validate, transform, whole):
        warm()
    n = len(lines)
    figures = {
        "floor_us": median_us_per_event(floor, n, passes),
        "validate_us": median_us_per_event(validate, n, passes),
        "transform_us": median_us_per_event(transform, n, passes),
        "whole_us": median_us_per_event(whole, n, passes),
    }
    figures["transform_ratio"] = figures["transform_us"] / figures["floor_us"]
    figures["whole_ratio"] = figures["whole_us"] / figures["floor_us"]
    return {k: round(v, 3) for k, v in figures.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workload", type=Path, default=DEFAULT_WORKLOAD)
    parser.add_argument("--passes", type=int, default=31)
    args = parser.parse_args()
    if not args.workload.is_file():
        print(
            f"bench: workload {args.workload} not found (set RUDDER_BRAZE_SHARED or pass --workload)", file=sys.stderr
        )
        return 2
    lines = [line for line in args.workload.read_text(encoding="utf-8").splitlines() if line.strip()]
    figures: dict[str, float] = dict(measure(lines, args.passes))
    print(f"mapping engine, {len(lines)} events, median of {args.passes} passes (µs/event):")
    for key in ("floor_us", "validate_us", "transform_us", "whole_us"):
        print(f"  {key:<14} {figures[key]:8.2f}")
    print(
        f"  transform = {figures['transform_ratio']:.2f} F (goal ≤ 0.75),"
        f" whole = {figures['whole_ratio']:.2f} F (goal ≤ 2.5)"
    )
    figures.update(bench_delivery.packing_figures(lines))
    print(f"Braze requests per 1,000 events, one delivery batch: {figures['braze_requests_per_1000']:.0f} under"
          f" 75 per array (goal ≤ 15; RudderStack ≈ 30), {figures['braze_requests_per_1000_total_rule']:.0f} under"
          " 75 in total (goal ≤ 25)")  # fmt: skip
    print(f"data points per 1,000 events: {figures['data_points_per_1000']:.0f}; with supportDedup"
          f" {figures['data_points_per_1000_dedup']:.0f} (store knows the users),"
          f" {figures['data_points_per_1000_dedup_cold']:.0f} (empty store)")  # fmt: skip
    figures.update(bench_buffered.buffered_figures([json.loads(line) for line in lines]))
    print(f"buffered mode through the local stack: {figures['braze_requests_per_1000_buffered_measured']:.0f} Braze"
          f" requests per 1,000 events; data points {figures['data_points_per_1000_buffered']:.0f}, with"
          f" supportDedup {figures['data_points_per_1000_buffered_dedup']:.0f} (fingerprints known),"
          f" {figures['data_points_per_1000_buffered_dedup_cold']:.0f} (empty table)")  # fmt: skip
    paced = bench_delivery.rate_limit_run(pace=True)
    unpaced = bench_delivery.rate_limit_run(seconds=6.0, pace=False)
    figures["rate_limit_utilisation"] = paced["utilisation"]
    figures["throttled_share"] = paced["throttled_share"]
    figures["throttled_share_unpaced"] = unpaced["throttled_share"]
    print(f"rate limit 20/s: utilisation {paced['utilisation']:.3f} (goal ≥ 0.95), 429 share"
          f" {paced['throttled_share']:.3f} (goal ≤ 0.02;"
          f" {unpaced['throttled_share']:.2f} without pacing)")  # fmt: skip
    figures.update(bench_delivery.cold_import_ms(bench_delivery.python313()))
    print(f"cold import from .aws-sam/build: ingest {figures['cold_import_ingest_ms']:.0f} ms"
          f" (Powertools alone {figures['cold_import_ingest_powertools_ms']:.0f}),"
          f" retry {figures['cold_import_retry_ms']:.0f} ms"
          f" (Powertools alone {figures['cold_import_retry_powertools_ms']:.0f}) (goal ≤ 120)")  # fmt: skip
    figures.update(bench_deadline.deadline_figures())
    print("a body of 1,000 events of new users, answered after (ms; the ingest timeout is 9,000):")
    for mode in ("direct", "buffered"):
        for braze in ("healthy", "hanging"):
            key = f"{mode}_{braze}"
            print(f"  {mode:<8} Braze {braze:<8} {figures[f'ingest_max_events_fresh_users_ms_{key}']:8.0f}"
                  f"  ({figures[f'ingest_max_events_fresh_users_status_{key}']:.0f})")  # fmt: skip
    figures.update(bench_calls.calls_figures())
    print(
        "AWS calls per event: " + ", ".join(f"{path} {figures[f'calls_{path}_aws']:.2f}" for path in bench_calls.PATHS)
    )
    figures.update(cost_model.cost_figures(figures))
    print(
        "cost per million events, HTTP API (goal): "
        + ", ".join(
            f"{path} ${figures[f'cost_per_million_{path}']:.2f} (≤ ${goal:.2f})"
            for path, goal in cost_model.PRICED.items()
        )
    )
    bench_delivery.chart(paced, unpaced, ROOT / "docs" / "performance-rate-limit.png")
    performance_doc.write(ROOT / "docs" / "performance.md", figures)
    capacity_doc.write(ROOT / "docs" / "capacity.md", figures)
    print(json.dumps({k: round(v, 3) for k, v in figures.items()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
