"""``make loadtest``: a steady open-loop load on the local stack, Braze throttling part of it.

Requests are scheduled at a fixed rate (not sent as fast as answers come), one event each, as RudderStack's
Webhook destination sends them. Reported: achieved rate, webhook latency p50/p95/p99, answers by status, and the
resident memory of the process over the run; then the retry queue is drained and every event reconciled. Fails on
any 5xx, any lost or duplicated event, or memory that keeps growing.

The local stack runs every function in one process on one core, with moto for AWS; the rate it sustains here is
far below a deployed stack's (where each request gets its own Lambda instance).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import urllib3

from local.stack import COMPRESSED_RETRY_TIMING, RUN_LOGS, LocalStack
from local.workload import Sent, generate

CONFIG = {"dataCenter": "US-01", "sendPurchaseEventWithExtraProperties": True}


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


@dataclass
class LoadResult:
    rate: float
    latencies_ms: list[float]
    statuses: dict[str, int]
    rss_mb: list[float]
    summary: Any
    drained: bool

    def percentile(self, q: int) -> float:
        return statistics.quantiles(self.latencies_ms, n=100)[q - 1] if len(self.latencies_ms) > 1 else 0.0

    @property
    def memory_growth(self) -> float:
        """Resident memory at the end over memory a quarter into the run (warm-up excluded)."""
        quarter = self.rss_mb[len(self.rss_mb) // 4] if self.rss_mb else 0.0
        return self.rss_mb[-1] / quarter if quarter else 1.0

    @property
    def ok(self) -> bool:
        server_errors = sum(n for s, n in self.statuses.items() if s.startswith("5") or not s.isdigit())
        return (self.drained and server_errors == 0 and self.summary.lost == 0 and self.summary.duplicates == 0
                and self.memory_growth < 1.25)  # fmt: skip


def run(rate: float, seconds: float, throttle: float, log_dir: Path, mode: str = "direct") -> LoadResult:
    stack = LocalStack(
        braze_config=CONFIG,
        parameters={"DeliveryMode": mode},
        env_overrides=COMPRESSED_RETRY_TIMING,
        log_dir=log_dir,
    ).start()
    try:
        events = generate(int(rate * seconds), users=500, seed=33, invalid_share=0.0)
        stack.simulator.set_faults({"throttle_rate": throttle, "seed": 2})
        http = urllib3.PoolManager(maxsize=32, retries=False)
        latencies: list[float] = []
        statuses: dict[str, int] = {}
        sent: list[Sent] = []
        lock = threading.Lock()
        memory: list[float] = []
        done = threading.Event()

        def sample_memory() -> None:
            while not done.is_set():
                memory.append(rss_mb())
                time.sleep(1.0)

        def fire(index: int, at: float) -> None:
            delay = at - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            event = events[index]
            record = Sent([event], first_sent=time.time())
            started = time.perf_counter()
            try:
                answer = http.request(
                    "POST", stack.webhook_url, body=json.dumps(event).encode(),
                    headers={"Content-Type": "application/json", "Authorization": f"Bearer {stack.token}"},
                    timeout=urllib3.Timeout(connect=2, read=30),
                )  # fmt: skip
                status = str(answer.status)
                record.bodies.append(json.loads(answer.data or b"null"))
            except urllib3.exceptions.HTTPError as exc:
                status = type(exc).__name__
            elapsed = (time.perf_counter() - started) * 1000
            with lock:
                latencies.append(elapsed)
                statuses[status] = statuses.get(status, 0) + 1
                sent.append(record)

        threading.Thread(target=sample_memory, daemon=True).start()
        start = time.monotonic()
        with ThreadPoolExecutor(max_workers=32) as pool:
            for index in range(len(events)):
                pool.submit(fire, index, start + index / rate)
        achieved = len(events) / (time.monotonic() - start)
        drained = stack.wait_until_drained(timeout=120)
        done.set()
        summary = stack.ledger(events, sent)
    finally:
        stack.stop()
    return LoadResult(achieved, latencies, statuses, memory, summary, drained)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=25.0, help="requests per second")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--throttle", type=float, default=0.1, help="share of Braze requests answered 429")
    parser.add_argument("--mode", choices=("direct", "buffered"), default="direct", help="the DeliveryMode parameter")
    args = parser.parse_args()
    result = run(args.rate, args.seconds, args.throttle, RUN_LOGS, args.mode)
    print(f"offered {args.rate:.0f} requests/s for {args.seconds:.0f} s; achieved {result.rate:.1f} requests/s")
    print(f"webhook latency p50 {result.percentile(50):.0f} ms, p95 {result.percentile(95):.0f} ms,"
          f" p99 {result.percentile(99):.0f} ms")  # fmt: skip
    print(f"answers by status {result.statuses}")
    print(f"resident memory {result.rss_mb[0]:.0f} → {result.rss_mb[-1]:.0f} MB"
          f" (end / quarter-in = {result.memory_growth:.2f})")  # fmt: skip
    print(result.summary.last_line())
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
