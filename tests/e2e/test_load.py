"""The short version of ``make loadtest`` (the long one does not fit CI): a steady load with Braze throttling."""

from __future__ import annotations

from pathlib import Path

from local.loadtest import Load, run


def test_steady_load_with_throttling_has_no_5xx_loses_nothing_and_memory_stays_flat(tmp_path: Path) -> None:
    result = run(Load(rate=15, seconds=8, throttle=0.1), tmp_path)
    assert result.drained
    assert set(result.statuses) <= {"200", "202"}, result.statuses
    assert (result.summary.lost, result.summary.duplicates) == (0, 0), result.summary.problems
    assert result.summary.delivered == 120
    assert result.memory_growth < 1.25
    report = result.report("direct", "http")
    assert (report["lost"], report["doubled"]) == (0, 0)
    assert report["braze_requests_per_1000_events"] >= 1000  # about one /users/track per event, direct
    assert 3 <= report["aws_calls_per_event"] < 30  # claim, turn, completion at least; retries add some
    assert report["latency_ms"]["p50"] <= report["latency_ms"]["p95"] <= report["latency_ms"]["p99"]
