"""Writes ``docs/performance.md`` from the figures ``make bench`` measured in the same run."""

from __future__ import annotations

from pathlib import Path

import cost_model
from bench_calls import PATHS

# RudderStack's own transformer on this machine kind, on the same workload (from the project's reference data).
RUDDERSTACK = {
    "transform_us": 21.0,
    "batched_us": 17.0,
    "braze_requests_per_1000": 30.0,
    "module_load_ms": 330.0,
}


def _status(value: float, goal: float, lower_is_better: bool = True) -> str:
    met = value <= goal if lower_is_better else value >= goal
    return "met" if met else "**not met**"


def _cost_rows(figures: dict[str, float]) -> list[str]:
    """Per million events, from the units counted on each path (tools/cost_model.py)."""
    memory = cost_model.memory_gb()
    rows = []
    for path, goal in cost_model.PRICED.items():
        b = cost_model.bill(figures, path, figures["whole_us"], memory)
        total = b.total("http")
        rows.append(
            f"| {path} | {b.gb_s * 1e6:,.0f} | {b.invocations * 1e6:,.0f} | {b.sqs_requests * 1e6:,.0f}"
            f" | {b.write_units * 1e6:,.0f} / {b.read_units * 1e6:,.0f} | ${b.lambda_dollars():,.2f}"
            f" | ${b.sqs_dollars():,.2f} | ${b.dynamodb_dollars():,.2f} | ${b.api_dollars('http'):,.2f}"
            f" | **${total:,.2f}** (≤ ${goal:.2f}: {_status(total, goal)}) | ${b.total('rest'):,.2f} |"
        )
    return rows


def _floor_section(f: dict[str, float]) -> list[str]:
    """Why each DynamoDB write remains, the least exactly-once can cost, and where that leaves the goals."""
    at_256 = cost_model.bill(f, "direct_in_order", f["whole_us"], 0.25).total("http")
    floor = 1e6 * (cost_model.PRICE_API["http"] + cost_model.PRICE_LAMBDA_REQUEST + cost_model.PRICE_WRITE_UNIT
                   + 2 * cost_model.PRICE_READ_UNIT)  # fmt: skip
    buffered_floor = 1e6 * (cost_model.PRICE_API["http"] + cost_model.PRICE_LAMBDA_REQUEST + cost_model.PRICE_WRITE_UNIT
                            + cost_model.PRICE_SQS["standard"] * (1 + cost_model.POLLER_REQUESTS))  # fmt: skip
    return [
        "### Why each write remains, and the floor",
        "",
        "- **Exactly once** needs, per event, a record a later copy can find by its messageId, written once the event"
        " is handled (its outcome: a copy that finds it is a duplicate). While two copies of one event can be in"
        " flight at once (an SDK's overlapping flushes, a sender that resends before the first call ended), the"
        " record is *claimed* first with a conditional put, so the second copy finds it in progress: two writes.",
        "- **Each user's order** needs the user's *turn*: taken and given back around the Braze call while a user's"
        " events can arrive concurrently (two writes per user and call), only *read* when every sender sends a"
        " user's events one at a time.",
        "- `SendersKeepUserOrder` (direct and buffered, `/v1/webhook` only) says the second of both: RudderStack's"
        " Webhook destination with event ordering on sends a user's next event after the answer to the one before,"
        " and an event again only after its call ended (its timeout outlasts the function's). Then an event's record"
        " and its user's turn are read (strongly consistent), and the record written once:"
        f" {f['calls_direct_in_order_units.dynamodb_write']:.1f} write unit and"
        f" {f['calls_direct_in_order_units.dynamodb_read']:.1f} read units an event, against"
        f" {f['calls_direct_units.dynamodb_write']:.1f} write units by default (claim, turn taken, turn given back,"
        f" record). A body of 100 shares the turns among its users: {f['calls_batched100_units.dynamodb_write']:.1f}"
        f" write units an event by default, {f['calls_batched100_in_order_units.dynamodb_write']:.1f} with the"
        " setting. Buffered mode adds, per event, the delivery function's second-copy mark (a standard queue can"
        " hand a message out twice) and its users' turns per delivery batch:"
        f" {f['calls_buffered_units.dynamodb_write']:.1f} write units an event by default,"
        f" {f['calls_buffered_in_order_units.dynamodb_write']:.1f} with the setting (the ingest's claim goes).",
        f"- **The floor.** One write unit (${cost_model.PRICE_WRITE_UNIT * 1e6:.3f} a million) per event is the least"
        " exactly-once can take while a copy can come back after any delay and in any batch (RudderStack re-batches"
        " what it retries), since the copy must find something under its own messageId. The batched100 goal"
        f" (${cost_model.GOALS['batched100']:.2f}) is under it: not reachable with exactly-once on on-demand"
        " DynamoDB. One event per call, before any Lambda time: HTTP API, Lambda request, one write and two reads"
        f" make ${floor:.2f}; the Lambda time is mostly the Braze round trip"
        f" ({f['calls_direct_in_order_braze.requests']:.2f} requests an event): at the template's"
        f" {cost_model.memory_gb() * 1024:.0f} MB, direct with the setting costs"
        f" ${f['cost_per_million_direct_in_order']:.2f}, at 256 MB it would cost ${at_256:.2f}, which"
        ' docs/decisions.md ("Function sizes") weighs against cold starts. Buffered, one event per call: HTTP API,'
        " the SQS"
        f" message and its share of the poller's requests, a Lambda request and the second-copy mark make"
        f" ${buffered_floor:.2f} before the ingest's record, the users' turns and any Lambda time.",
        "- Buffered mode answers after one SQS send and lets the delivery function pay one Braze round trip per"
        " packed request, at the price of a standard-queue message and a second-copy mark per event. The bigger"
        " difference is Braze's side: about one `/users/track` request per event direct against"
        f" {f['braze_requests_per_1000_buffered_measured']:.0f} per 1,000 buffered, out of a workspace budget of"
        " 3,000 requests per 3 s shared with every other tool that writes to Braze.",
    ]


def _calls_section(figures: dict[str, float]) -> list[str]:
    """The calls counted per event on each path (tools/bench_calls.py)."""
    paths = list(PATHS)
    # A path's name can begin another's (direct, direct_in_order): a figure belongs to the longest that prefixes it.
    by_length = sorted(paths, key=len, reverse=True)
    calls = set()
    for key in figures:
        path = next((p for p in by_length if key.startswith(f"calls_{p}_")), None)
        if path is not None and not key.endswith("_aws"):
            calls.add(key.removeprefix(f"calls_{path}_"))
    rows = [f"| `{call}` | " + " | ".join(f"{figures.get(f'calls_{path}_{call}', 0.0):.2f}" for path in paths) + " |"
            for call in sorted(calls)]  # fmt: skip
    return [
        "## Calls per event, counted",
        "",
        "Every AWS call the functions made and every request Braze received, per event, on the local stack (200",
        "events of 60 users, one per webhook call; `tools/bench_calls.py`). Columns: "
        + "; ".join(f"**{path}**: {what}" for path, what in PATHS.items())
        + ". The event source mappings' own SQS",
        "receives and deletes (Lambda's pollers) are not counted.",
        "",
        "| call | " + " | ".join(paths) + " |",
        "|---|" + "---:|" * len(paths),
        *rows,
        "| **AWS calls in all** | " + " | ".join(f"**{figures[f'calls_{path}_aws']:.2f}**" for path in paths) + " |",
        "",
    ]


def write(path: Path, figures: dict[str, float]) -> None:
    f = figures
    own_ingest = f["cold_import_ingest_ms"] - f["cold_import_ingest_powertools_ms"]
    own_retry = f["cold_import_retry_ms"] - f["cold_import_retry_powertools_ms"]
    lines = [
        "# Performance",
        "",
        "Written by `make bench` from the figures it measured in the same run (this file is regenerated; edit",
        "`tools/performance_doc.py`). Workload: the 1,000-event reference workload (identify, track, Order Completed",
        "with 3 products, page, group; 300 users). RudderStack's figures are its own transformer's on the same",
        "workload and machine kind.",
        "",
        "| figure | this bridge | goal | RudderStack | |",
        "|---|---:|---:|---:|---|",
        f"| JSON floor F (loads + dumps), µs/event | {f['floor_us']:.1f} | | | |",
        f"| mapping (transform), µs/event | {f['transform_us']:.1f} = {f['transform_ratio']:.2f} F | ≤ 0.75 F"
        f" | {RUDDERSTACK['transform_us']:.0f} ≈ 1.1 F | {_status(f['transform_ratio'], 0.75)} |",
        f"| whole path (parse, validate, map, serialise), µs/event | {f['whole_us']:.1f} = {f['whole_ratio']:.2f} F"
        f" | ≤ 2.5 F | | {_status(f['whole_ratio'], 2.5)} |",
        f"| schema validation alone, µs/event | {f['validate_us']:.1f} | | | |",
        f"| Braze requests per 1,000 events (one batch, 75 per array) | {f['braze_requests_per_1000']:.0f} | ≤ 15"
        f" | ≈ {RUDDERSTACK['braze_requests_per_1000']:.0f} | {_status(f['braze_requests_per_1000'], 15)} |",
        "| … without coalescing (RudderStack's packing, our chunking) |"
        f" {f['braze_requests_per_1000_without_coalescing']:.0f} | | | |",
        f"| Braze requests per 1,000 events (75 objects in total) | {f['braze_requests_per_1000_total_rule']:.0f}"
        f" | ≤ 25 | | {_status(f['braze_requests_per_1000_total_rule'], 25)} |",
        f"| data points per 1,000 events (one event per request) | {f['data_points_per_1000']:.0f} | | | |",
        f"| … with `supportDedup`, store knows the users | {f['data_points_per_1000_dedup']:.0f}"
        f" = {f['data_points_per_1000_dedup'] / f['data_points_per_1000']:.2f}x | ≤ 0.6x | lookup per batch"
        f" | {_status(f['data_points_per_1000_dedup'] / f['data_points_per_1000'], 0.6)} |",
        f"| … with `supportDedup`, empty store | {f['data_points_per_1000_dedup_cold']:.0f}"
        f" = {f['data_points_per_1000_dedup_cold'] / f['data_points_per_1000']:.2f}x | ≤ 0.6x | |"
        f" {_status(f['data_points_per_1000_dedup_cold'] / f['data_points_per_1000'], 0.6)} |",
        f"| … one 1,000-event batch, coalesced, no dedup | {f['data_points_per_1000_batched']:.0f} | | | |",
        "| **buffered mode, measured through the local stack** (HTTP → ingest → delivery queue → retry function"
        " → Braze simulator) | | | | |",
        f"| Braze requests per 1,000 events (one delivery batch, 75 per array) |"
        f" {f['braze_requests_per_1000_buffered_measured']:.0f} | ≤ 15"
        f" | ≈ {RUDDERSTACK['braze_requests_per_1000']:.0f}"
        f" | {_status(f['braze_requests_per_1000_buffered_measured'], 15)} |",
        f"| data points per 1,000 events | {f['data_points_per_1000_buffered']:.0f} | | | |",
        f"| … with `supportDedup`, fingerprint table knows the users | {f['data_points_per_1000_buffered_dedup']:.0f}"
        f" = {f['data_points_per_1000_buffered_dedup'] / f['data_points_per_1000_buffered']:.2f}x | ≤ 0.6x | |"
        f" {_status(f['data_points_per_1000_buffered_dedup'] / f['data_points_per_1000_buffered'], 0.6)} |",
        f"| … with `supportDedup`, empty fingerprint table | {f['data_points_per_1000_buffered_dedup_cold']:.0f}"
        f" = {f['data_points_per_1000_buffered_dedup_cold'] / f['data_points_per_1000_buffered']:.2f}x | | | |",
        *(
            f"| 1,000 events of new users, {mode}, Braze {braze}: answered after, ms (status) |"
            f" {f[f'ingest_max_events_fresh_users_ms_{mode}_{braze}']:.0f}"
            f" ({f[f'ingest_max_events_fresh_users_status_{mode}_{braze}']:.0f}) | < 9,000 (the timeout) | |"
            f" {_status(f[f'ingest_max_events_fresh_users_ms_{mode}_{braze}'], 8999)} |"
            for mode in ("direct", "buffered")
            for braze in ("healthy", "hanging")
        ),
        f"| rate-limit utilisation at 20 requests/s | {f['rate_limit_utilisation']:.3f} | ≥ 0.95 | |"
        f" {_status(f['rate_limit_utilisation'], 0.95, lower_is_better=False)} |",
        f"| share of requests answered 429 | {f['throttled_share']:.3f} (unpaced {f['throttled_share_unpaced']:.2f})"
        f" | ≤ 0.02 | | {_status(f['throttled_share'], 0.02)} |",
        f"| cold import, ingest handler, ms (median; fastest {f['cold_import_ingest_fastest_ms']:.0f}) |"
        f" {f['cold_import_ingest_ms']:.0f} | ≤ 120"
        f" | {RUDDERSTACK['module_load_ms']:.0f} (Braze module over bare Node) |"
        f" {_status(f['cold_import_ingest_ms'], 120)} |",
        f"| … of which the Powertools modules it uses (Logger, Metrics, event handler) |"
        f" {f['cold_import_ingest_powertools_ms']:.0f} | | | |",
        f"| … the project's own modules over those | {own_ingest:.0f} | ≤ 25 | | {_status(own_ingest, 25)} |",
        f"| cold import, retry handler, ms (median; fastest {f['cold_import_retry_fastest_ms']:.0f}) |"
        f" {f['cold_import_retry_ms']:.0f} | ≤ 120 | |"
        f" {_status(f['cold_import_retry_ms'], 120)} |",
        f"| … of which the Powertools modules it uses (Logger, Metrics) |"
        f" {f['cold_import_retry_powertools_ms']:.0f} | | | |",
        f"| … the project's own modules over those | {own_retry:.0f} | ≤ 25 | | {_status(own_retry, 25)} |",
        "",
        "Notes on the figures:",
        "",
        "- *Braze requests* count every endpoint (identify merges, track, subscription, merge) for the whole workload",
        "  packed as one delivery batch: each user's attribute objects coalesced, identical identify merges once.",
        "  The first rows run the packer on the workload; the buffered rows post the workload to the local stack in",
        "  bodies of 100 and count what the Braze simulator accepted from one delivery batch of the retry function.",
        "- *Data points* are attribute writes (each key; each key of a nested object), events and purchases, without",
        "  Braze's non-billable attributes. Dedup keeps fingerprints of the values last sent per user; the",
        "  steady-state figure has the store warmed by an earlier pass of the workload, as RudderStack's",
        "  `/users/export/ids` lookup would find these users' profiles in Braze; from an empty store most writes",
        "  are first writes. The buffered rows use the deployed path: fingerprints of what Braze accepted, kept per",
        "  user in the state table (`fp#` items, 7-day TTL); the workload goes through twice with fresh messageIds,",
        "  the first pass from an empty table, the second with every user's fingerprints in it. Most of the",
        "  workload's attribute writes are a user's first, so the empty-table figure stays near the plain one.",
        "- *Rate limit*: the Braze simulator allows 20 `/users/track` requests per 1 s window; one sender sends back",
        "  to back for 12 s, pacing on `X-RateLimit-Remaining`/`Reset`; whole windows only.",
        "- *Cold import*: `import app` from `.aws-sam/build` (function directory + layer with its precompiled",
        "  bytecode and its schema validators written out as Python by the build), timed around the import in a fresh",
        "  `python3.13` each run (so neither the interpreter's start nor its exit counts), in turns with the",
        "  Powertools modules alone, median of 15 each, on this machine (faster than a 512 MB Lambda, but its speed",
        "  drifts from one run to the next by a third or more, so the fastest run is given too). Most of it is the",
        "  Powertools modules issue 3 asks for: the event handler package imports every resolver (AppSync brings",
        "  asyncio, about 30 ms); the retry handler answers SQS's partial batch response itself, without the batch",
        "  utility (which imports asyncio too). This project's own modules add about",
        f"  {f['cold_import_ingest_ms'] - f['cold_import_ingest_powertools_ms']:.0f} ms (ingest) and"
        f" {f['cold_import_retry_ms'] - f['cold_import_retry_powertools_ms']:.0f} ms (retry). jsonschema,"
        " fastjsonschema, urllib3 and boto3 are not imported at cold start.",
        "",
        "![delivery rate against the rate limit](performance-rate-limit.png)",
        "",
        "## Cost model, per million events",
        "",
        "From what `tools/bench_calls.py` counted per event on each path (webhook calls, Braze requests, AWS calls and",
        "the units AWS bills for them: a DynamoDB write unit per item written, a read unit per item read, an SQS",
        "request per call) and these assumptions (`tools/cost_model.py`): Braze round trip"
        f" {cost_model.BRAZE_RTT_MS:.0f} ms, DynamoDB call {cost_model.DYNAMODB_MS:.0f} ms,"
        f" SQS call {cost_model.SQS_MS:.0f} ms (a body of many events makes {cost_model.SIDE_BY_SIDE} calls at once),",
        f"the template's {cost_model.memory_gb() * 1024:.0f} MB on arm64, {cost_model.RETRIED_SHARE:.0%} of events"
        " retried once (costed as the counted recovery path), Lambda's poller receiving and deleting 10",
        "messages a request; us-east-1 list prices: Lambda $0.0000133334/GB-s and $0.20 per million requests, API",
        "Gateway HTTP API $1.00 and REST API $3.50 per million, SQS $0.50 (FIFO) / $0.40 (standard) per million,",
        "DynamoDB on demand $0.625 per million write units and $0.125 per million read units.",
        "",
        "| path | Lambda GB-s | Lambda requests | SQS requests | DynamoDB write / read units | Lambda | SQS"
        " | DynamoDB | HTTP API | total, HTTP API (goal) | total, REST API |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        *_cost_rows(figures),
        "",
        *_floor_section(figures),
        "",
        *_calls_section(figures),
    ]
    path.write_text("\n".join(lines), encoding="utf-8")
