"""What a use case counted, as CloudWatch metrics (EMF, through Powertools): the same for both handlers."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit

LATENCIES_PER_INVOCATION = 100  # an EMF metric holds at most 100 values


def publish(metrics: Metrics, counts: Mapping[str, int], latencies_ms: Sequence[float]) -> None:
    for name, value in counts.items():
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
    for latency in latencies_ms[:LATENCIES_PER_INVOCATION]:
        metrics.add_metric(name="BrazeLatency", unit=MetricUnit.Milliseconds, value=latency)
