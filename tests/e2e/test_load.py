"""The short version of ``make loadtest`` (the long one does not fit CI): a steady load with Braze throttling."""

from __future__ import annotations

from pathlib import Path

from local.loadtest import run


def test_steady_load_with_throttling_has_no_5xx_loses_nothing_and_memory_stays_flat(tmp_path: Path) -> None:
    result = run(rate=15, seconds=8, throttle=0.1, log_dir=tmp_path)
    assert result.drained
    assert set(result.statuses) <= {"200", "202"}, result.statuses
    assert (result.summary.lost, result.summary.duplicates) == (0, 0), result.summary.problems
    assert result.summary.delivered == 120
    assert result.memory_growth < 1.25
