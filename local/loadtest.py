"""``make loadtest``: a steady open-loop load on the local stack, Braze throttling part of it, in each delivery mode
behind each API type (or the ones ``--mode`` and ``--api`` name).

Requests are scheduled at a fixed rate (not sent as fast as answers come), one event each, as RudderStack's
Webhook destination sends them. Reported per run: achieved rate, webhook latency p50/p95/p99, answers by status,
Braze requests per 1,000 events, AWS calls per event (counted as ``make bench`` counts them) and the resident
memory of the process over the run; then the queues are drained and every event reconciled. The last line is one
JSON object. Fails on any 5xx, any lost or duplicated event, or memory that keeps growing.

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

from local.aws_calls import install
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
    braze_requests: int = 0
    aws_calls: int = 0

    def percentile(self, q: int) -> float:
        return statistics.quantiles(self.latencies_ms, n=100)[q - 1] if len(self.latencies_ms) > 1 else 0.0

    @property
    def memory_growth(self) -> float:
        """Resident memory at the end over memory a quarter into the run (warm-up excluded)."""
        quarter = self.rss_mb[len(self.rss_mb) // 4] if self.rss_mb else 0.0
        return self.rss_mb[-1] / quarter if quarter else 1.0

    def report(self, mode: str, api: str) -> dict[str, Any]:
        events = max(len(self.latencies_ms), 1)
        return {
            "mode": mode,
            "api": api,
            "requests_per_s": round(self.rate, 1),
            "latency_ms": {f"p{q}": round(self.percentile(q)) for q in (50, 95, 99)},
            "braze_requests_per_1000_events": round(1000 * self.braze_requests / events, 1),
            "aws_calls_per_event": round(self.aws_calls / events, 2),
            "lost": self.summary.lost,
            "doubled": self.summary.duplicates,
        }

    @property
    def ok(self) -> bool:
        server_errors = sum(n for s, n in self.statuses.items() if s.startswith("5") or not s.isdigit())
        return (self.drained and server_errors == 0 and self.summary.lost == 0 and self.summary.duplicates == 0
                and self.memory_growth < 1.25)  # fmt: skip


@dataclass(frozen=True)
class Load:
    rate: float  # requests (one event each) per second
    seconds: float
    throttle: float  # share of Braze requests answered 429


def run(load: Load, log_dir: Path, mode: str = "direct", api: str = "http") -> LoadResult:
    calls = install()
    stack = LocalStack(
        braze_config=CONFIG,
        parameters={"DeliveryMode": mode, "ApiType": api},
        env_overrides=COMPRESSED_RETRY_TIMING,
        log_dir=log_dir,
    ).start()
    try:
        events = generate(int(load.rate * load.seconds), users=500, seed=33, invalid_share=0.0)
        stack.simulator.set_faults({"throttle_rate": load.throttle, "seed": 2})
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
        calls.take()
        start = time.monotonic()
        with ThreadPoolExecutor(max_workers=32) as pool:
            for index in range(len(events)):
                pool.submit(fire, index, start + index / load.rate)
        achieved = len(events) / (time.monotonic() - start)
        drained = stack.wait_until_drained(timeout=120)
        done.set()
        aws_calls = sum(n for call, n in calls.take().items() if not call.startswith("units."))
        summary = stack.ledger(events, sent)
        braze_requests = stack.simulator.stats()["requests"]
    finally:
        stack.stop()
    return LoadResult(achieved, latencies, statuses, memory, summary, drained, braze_requests, aws_calls)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=25.0, help="requests per second")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--throttle", type=float, default=0.1, help="share of Braze requests answered 429")
    parser.add_argument("--mode", choices=("direct", "buffered", "all"), default="all", help="DeliveryMode")
    parser.add_argument("--api", choices=("http", "rest", "all"), default="all", help="ApiType")
    args = parser.parse_args()
    modes = ("direct", "buffered") if args.mode == "all" else (args.mode,)
    apis = ("http", "rest") if args.api == "all" else (args.api,)
    reports, ok = [], True
    for mode in modes:
        for api in apis:
            result = run(Load(args.rate, args.seconds, args.throttle), RUN_LOGS, mode, api)
            print(f"{mode} behind the {api} API: offered {args.rate:.0f} requests/s for {args.seconds:.0f} s;"
                  f" achieved {result.rate:.1f} requests/s")  # fmt: skip
            print(f"  webhook latency p50 {result.percentile(50):.0f} ms, p95 {result.percentile(95):.0f} ms,"
                  f" p99 {result.percentile(99):.0f} ms; answers by status {result.statuses}")  # fmt: skip
            print(f"  resident memory {result.rss_mb[0]:.0f} → {result.rss_mb[-1]:.0f} MB"
                  f" (end / quarter-in = {result.memory_growth:.2f}); {result.summary.last_line()}")  # fmt: skip
            reports.append(result.report(mode, api))
            ok = ok and result.ok
    lost, doubled = sum(r["lost"] for r in reports), sum(r["doubled"] for r in reports)
    print(json.dumps({"runs": reports, "lost": lost, "doubled": doubled}))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
