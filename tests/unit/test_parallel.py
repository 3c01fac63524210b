"""Side-by-side AWS calls: work started beside the caller may itself fan out without deadlocking the pool."""

from __future__ import annotations

import time

from rudder_braze.parallel import WORKERS, in_parallel, in_parallel_start


def test_fanning_out_from_every_worker_at_once_finishes() -> None:
    def slow_square(n: int) -> int:
        time.sleep(0.01)
        return n * n

    outer = [in_parallel_start(lambda base: in_parallel(slow_square, [base, base + 1]), b) for b in range(WORKERS)]
    assert [future.result(timeout=10) for future in outer] == [[b * b, (b + 1) ** 2] for b in range(WORKERS)]
