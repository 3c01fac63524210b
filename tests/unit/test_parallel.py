"""Side-by-side AWS calls: work run side by side may itself fan out without deadlocking the pool."""

from __future__ import annotations

import time

from rudder_braze.parallel import WORKERS, in_parallel


def test_fanning_out_from_every_worker_at_once_finishes() -> None:
    def slow_square(n: int) -> int:
        time.sleep(0.01)
        return n * n

    outer = in_parallel(lambda base: in_parallel(slow_square, [base, base + 1]), list(range(2 * WORKERS)))
    assert outer == [[b * b, (b + 1) ** 2] for b in range(2 * WORKERS)]
