"""``make demo``: the whole pipeline on this machine, with Braze misbehaving, and the proof that nothing was lost
and nothing stored twice.

1. starts the local stack (moto for SSM/SQS/DynamoDB, the Braze simulator, API Gateway and both Lambdas);
2. posts the samples of ``events/rudderstack`` and a generated workload of every event type, like RudderStack's
   Webhook destination (single events and arrays, its retries on 5xx, and some re-sent bodies);
3. meanwhile Braze throttles 15 % of requests, fails 3 %, drops 1 % of connections and is down for 10 s
   (the end-to-end tests run the harsher storm: 30 % 429, 5 % 5xx and a 20 s outage);
4. waits until the retry queue is empty and reconciles, event by event, what the simulator stored.

The last line is ``demo: sent=… delivered=… rejected=… dead_lettered=… duplicates=… lost=…``; the exit status is
non-zero unless ``duplicates`` and ``lost`` are 0.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from local.stack import COMPRESSED_RETRY_TIMING, RUN_LOGS, LocalStack
from local.workload import RudderStackSender, Sent, batches, generate

ROOT = Path(__file__).resolve().parent.parent
DEMO_CONFIG = {"dataCenter": "US-01", "sendPurchaseEventWithExtraProperties": True}


def samples() -> list[list[dict[str, object]]]:
    bodies = []
    for path in sorted((ROOT / "events" / "rudderstack").glob("*.json")):
        document = json.loads(path.read_text())
        bodies.append(document.get("batch", [document]))
    return bodies


# The demo compresses time: the template's backoff (5 s base, up to 15 min, 10 attempts: about half an hour) is
# right for Braze, too slow to watch; shorter delays get proportionally more attempts.


def run(count: int, outage_seconds: float, mode: str = "direct") -> int:
    started = time.monotonic()
    stack = LocalStack(
        braze_config=DEMO_CONFIG,
        env_overrides=COMPRESSED_RETRY_TIMING,
        parameters={"DeliveryMode": mode},
        log_dir=RUN_LOGS,
    ).start()
    try:
        print(f"local stack up ({mode} delivery): webhook {stack.webhook_url}, Braze {stack.simulator_server.url}")
        print(f"retry timing compressed for the demo: {COMPRESSED_RETRY_TIMING}")
        print("function logs and metrics (EMF): .local-run/logs/ingest.log, .local-run/logs/retry.log")
        events = generate(count)
        bodies = samples() + batches(events)
        all_events = [event for body in bodies for event in body]
        stack.simulator.set_faults({"throttle_rate": 0.15, "error_rate": 0.03, "drop_rate": 0.01, "seed": 11})
        print(f"sending {len(all_events)} events in {len(bodies)} requests; Braze: 15% 429, 3% 5xx, 1% dropped")
        sender = RudderStackSender(stack.api.url, stack.token)
        half = len(bodies) // 2
        sent: list[Sent] = sender.send_all(bodies[:half], repeat_share=0.05)
        print(f"Braze outage for {outage_seconds:.0f} s")
        stack.simulator.set_faults({"outage_seconds": outage_seconds})
        sent += sender.send_all(bodies[half:], repeat_share=0.05, seed=4)
        print(f"all sent after {time.monotonic() - started:.0f} s; waiting for the retry queue to drain ...")
        drained = stack.wait_until_drained(timeout=170 - (time.monotonic() - started))
        summary = stack.ledger(all_events, sent)
    finally:
        stack.stop()
    print()
    print(f"events sent               {summary.sent}")
    print(f"delivered in the call     {summary.delivered_first_time}  (the webhook answered 200)")
    print(f"delivered from a queue    {summary.delivered_after_retry}  (retry queue; buffered: delivery queue too)")
    print(f"rejected as invalid       {summary.rejected}")
    print(f"dead-lettered             {summary.dead_lettered} {summary.dead_letter_reasons or ''}")
    print(f"Braze requests            {summary.braze_requests} by status {summary.braze_statuses}")
    print(f"delivery latency          p50 {summary.latency_p50_ms:.0f} ms, p95 {summary.latency_p95_ms:.0f} ms")
    print(f"queues drained            {'yes' if drained else 'NO'} after {time.monotonic() - started:.0f} s")
    for problem in summary.problems:
        print(f"  {problem}")
    print(summary.last_line())
    return 0 if drained and summary.lost == 0 and summary.duplicates == 0 else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--outage", type=float, default=10.0, help="seconds of Braze outage")
    parser.add_argument("--mode", choices=("direct", "buffered"), default="direct", help="the DeliveryMode parameter")
    args = parser.parse_args()
    return run(args.events, args.outage, args.mode)


if __name__ == "__main__":
    sys.exit(main())
