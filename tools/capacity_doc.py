"""Writes ``docs/capacity.md`` and its chart from the calls ``make bench`` counted per event (``bench_calls``) and
the cost model's assumptions (``cost_model``): what each rate asks of Braze and of each AWS quota, the monthly
bill, and what saturates first."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import cost_model

from local.template import Template

RATES = (100, 1_000, 10_000, 50_000)  # events per second
SECONDS_PER_MONTH = 30 * 24 * 3600
BRAZE_BUDGET = 1_000.0  # requests/s: a workspace's /users/track limit of 3,000 requests per 3 s
# AWS's default quotas in us-east-1 (each can be raised by asking AWS, Braze's budget only by Braze).
LAMBDA_CONCURRENCY = 1_000
API_ACCOUNT_RPS = 10_000
DYNAMODB_TABLE_WRITES = 40_000  # write units/s per table; a new on-demand table starts at 4,000
DYNAMODB_NEW_TABLE_WRITES = 4_000
DYNAMODB_TABLE_READS = 40_000
USERS_PER_EVENT = 0.3  # the reference workload: 300 users in 1,000 events


@dataclass(frozen=True)
class Setup:
    """A way to run the bridge: the counted path it takes, and what to turn when a limit is reached."""

    name: str
    path: str  # a bench_calls path
    buffered: bool


SETUPS = (
    Setup("direct, 1 event per call", "direct", buffered=False),
    Setup("direct, 100 events per call", "batched100", buffered=False),
    Setup("buffered, 1 event per call", "buffered", buffered=True),
    Setup("direct, 1 event per call, SendersKeepUserOrder", "direct_in_order", buffered=False),
    Setup("direct, 100 events per call, SendersKeepUserOrder", "batched100_in_order", buffered=False),
)


@cache
def _template_defaults() -> dict[str, float]:
    parameters = Template("dev").doc["Parameters"]
    return {name: float(parameters[name]["Default"]) for name in ("ApiRateLimit", "RetryMaxConcurrency",
                                                                  "DeliveryBatchSize")}  # fmt: skip


def limits(figures: dict[str, float], setup: Setup) -> dict[str, tuple[float, str]]:
    """Each limit as the most events/s it lets through with the template's defaults, and the parameter or quota
    to turn when it is the one reached."""
    defaults = _template_defaults()
    path = setup.path
    calls_per_event = figures[f"calls_{path}_webhook.calls"]
    braze = cost_model.braze_requests_per_event(figures, path)
    writes = figures[f"calls_{path}_units.dynamodb_write"]
    reads = figures.get(f"calls_{path}_units.dynamodb_read", 0.0)
    seconds = cost_model.seconds_per_event(figures, path, figures["whole_us"])
    found = {
        "Braze workspace budget (3,000 requests / 3 s)": (BRAZE_BUDGET / braze, "DeliveryMode=buffered, or Braze"),
        "stage throttling (ApiRateLimit)": (defaults["ApiRateLimit"] / calls_per_event, "ApiRateLimit"),
        "API Gateway account (10,000 requests/s)": (API_ACCOUNT_RPS / calls_per_event, "an AWS quota increase"),
        "Lambda concurrency (1,000 per account)": (LAMBDA_CONCURRENCY / seconds, "an AWS quota increase"),
        "DynamoDB, a new on-demand table (4,000 writes/s)": (
            DYNAMODB_NEW_TABLE_WRITES / writes,
            "warm throughput, or time to ramp up",
        ),
        "DynamoDB table quota (40,000 writes/s)": (DYNAMODB_TABLE_WRITES / writes, "an AWS quota increase"),
    }
    if reads:
        found["DynamoDB table quota (40,000 reads/s)"] = (DYNAMODB_TABLE_READS / reads, "an AWS quota increase")
    if setup.buffered:
        # The delivery function: RetryMaxConcurrency instances, each packing a batch into few requests sent one
        # after another, and taking and giving back each user's turn (8 side by side).
        batch_seconds = braze * cost_model.BRAZE_RTT_MS / 1000 + 2 * USERS_PER_EVENT * cost_model.DYNAMODB_MS / 8000
        found["delivery instances (RetryMaxConcurrency)"] = (defaults["RetryMaxConcurrency"] / batch_seconds,
                                                             "RetryMaxConcurrency")  # fmt: skip
    return found


def _rows(figures: dict[str, float]) -> list[str]:
    rows = []
    for setup in SETUPS:
        found = limits(figures, setup)
        first, (most, turn) = min(found.items(), key=lambda item: item[1][0])
        cost = cost_model.bill(figures, setup.path, figures["whole_us"], cost_model.memory_gb()).total("http")
        seconds = cost_model.seconds_per_event(figures, setup.path, figures["whole_us"])
        for rate in RATES:
            braze = rate * cost_model.braze_requests_per_event(figures, setup.path)
            writes = rate * figures[f"calls_{setup.path}_units.dynamodb_write"]
            saturated = [name for name, (limit, _) in found.items() if rate > limit]
            rows.append(
                f"| {setup.name} | {rate:,} | {braze:,.0f} ({braze / BRAZE_BUDGET:.0%}) | {rate * seconds:,.0f}"
                f" | {writes:,.0f} | ${rate * SECONDS_PER_MONTH * cost / 1e6:,.0f}"
                f" | {', '.join(saturated) or 'nothing'} |"
            )
        rows.append(f"| *{setup.name}: first limit* | *{most:,.0f} events/s* | | | | | *{first}: turn {turn}* |")
    return rows


def chart(figures: dict[str, float], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(11, 4.5))
    names = sorted({name for setup in SETUPS for name in limits(figures, setup)})
    width = 0.8 / len(SETUPS)
    for index, setup in enumerate(SETUPS):
        found = limits(figures, setup)
        most = [found[name][0] if name in found else 0 for name in names]
        axis.barh([n + index * width for n in range(len(names))], most, height=width, label=setup.name)
    for rate in RATES:
        axis.axvline(rate, color="grey", linewidth=0.6, linestyle=":")
    axis.set_yticks([n + width for n in range(len(names))], names, fontsize=7)
    axis.set_xscale("log")
    axis.set_xlabel("most events/s each limit lets through (template defaults, AWS default quotas)")
    axis.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def _fewer_writes(figures: dict[str, float], path: str) -> float:
    """How many times fewer DynamoDB writes an event SendersKeepUserOrder makes on ``path``."""
    return figures[f"calls_{path}_units.dynamodb_write"] / figures[f"calls_{path}_in_order_units.dynamodb_write"]


def write(path: Path, figures: dict[str, float]) -> None:
    chart(figures, path.with_name("capacity.png"))
    lines = [
        "# Capacity",
        "",
        "Written by `make bench` (this file is regenerated; edit `tools/capacity_doc.py`) from the calls it counted",
        'per event on the local stack (`docs/performance.md`, "Calls per event, counted") and the cost model\'s',
        "latencies and prices (`tools/cost_model.py`). Limits are the template's defaults and AWS's default quotas",
        "in us-east-1; Braze's is a workspace's `/users/track` budget of 3,000 requests per 3 s, shared with every",
        "other tool that writes to the workspace. Concurrency is events/s times the Lambda time an event takes.",
        "",
        "![most events/s each limit lets through](capacity.png)",
        "",
        "| setup | events/s | Braze requests/s (of the budget) | Lambda concurrency | DynamoDB writes/s"
        " | monthly bill, HTTP API | over its limit |",
        "|---|---:|---:|---:|---:|---:|---|",
        *_rows(figures),
        "",
        "## What breaks first, and what to turn",
        "",
        "- **Stage throttling comes first with one event per call**: `ApiRateLimit` defaults to 200 requests/s, a",
        "  guard against a runaway sender. Raise it with the traffic you expect (and `ApiBurstLimit` above what the",
        "  senders burst); RudderStack's Webhook destination retries a 429.",
        "- **Braze's budget is the hard ceiling in direct mode**: about one `/users/track` request per event, so one",
        "  workspace takes about",
        f"  {BRAZE_BUDGET / figures['calls_direct_braze.requests']:,.0f} events/s sent one per call. Buffered mode",
        "  packs a delivery batch into few requests: the same budget carries about",
        f"  {BRAZE_BUDGET / cost_model.braze_requests_per_event(figures, 'buffered'):,.0f} events/s (full delivery"
        " batches). RudderStack's HTTP Webhook",
        "  destination's batches of 100 (direct) pack too: about",
        f"  {BRAZE_BUDGET / figures['calls_batched100_braze.requests']:,.0f} events/s.",
        "- **Buffered mode's delivery function** is capped by `RetryMaxConcurrency` (2 by default) instances:"
        f" about {limits(figures, SETUPS[2])['delivery instances (RetryMaxConcurrency)'][0]:,.0f} events/s;",
        "  raise it before that; each instance is one more Braze caller.",
        "- **DynamoDB**: a new on-demand table takes 4,000 writes/s at once and doubles its previous peak as",
        "  traffic grows; at 10,000 events/s and beyond, pre-warm the table (warm throughput) or ramp up, and past",
        "  40,000 write units/s ask AWS to raise the table quota. `SendersKeepUserOrder` (RudderStack's Webhook",
        "  destination from one data plane, event ordering on) divides the writes by"
        f" {_fewer_writes(figures, 'direct'):.0f} sent one per call and by {_fewer_writes(figures, 'batched100'):.0f}"
        " in batches of 100, at the price of strongly consistent reads.",
        "- **Lambda concurrency** (1,000 per account by default, shared with every function of the account) and API",
        "  Gateway's 10,000 requests/s per account are reached at 10,000 to 50,000 events/s sent one per call:",
        "  sending batches (RudderStack's HTTP Webhook destination, or an SDK's batch route) divides both by the",
        "  batch size.",
        "",
    ]
    path.write_text("\n".join(lines), encoding="utf-8")
