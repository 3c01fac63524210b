"""Retry Lambda: SQS FIFO retry queue → Braze, with backoff, per-user order and a dead-letter queue.

In buffered delivery mode it also works off the delivery queue; a batch comes from one queue, told apart by its
records' eventSourceARN."""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.utilities.typing import LambdaContext

from rudder_braze.adapters.aws.tracing import traced
from rudder_braze.app import container
from rudder_braze.app.metrics import publish
from rudder_braze.usecases.queue_batch import QueueRecord

logger = Logger(service="rudder-braze-retry")
# The domain logs through the standard "rudder_braze" logger: give it this logger's JSON format and level.
copy_config_to_registered_loggers(source_logger=logger, include={"rudder_braze"})
metrics = Metrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "RudderBraze"), service="retry")


@traced
@logger.inject_lambda_context(log_event=False, clear_state=True)
@metrics.log_metrics(raise_on_empty_metrics=False)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, list[dict[str, str]]]:
    """The batch's records, read once; the answer names the ones SQS must hand out again (``ReportBatchItemFailures``:
    every record's fate is decided for the whole batch, its requests being packed together)."""
    raw_records = event.get("Records", ())
    records = [
        QueueRecord(
            r["messageId"],
            r["receiptHandle"],
            r["body"],
            int(r.get("attributes", {}).get("ApproximateReceiveCount", 1)),
        )
        for r in raw_records
    ]
    app_container = container.current()
    from_delivery_queue = bool(raw_records) and app_container.is_delivery_queue(
        raw_records[0].get("eventSourceARN", "")
    )
    service = app_container.delivery_service if from_delivery_queue else app_container.retry_service
    result = service.handle(records, context.get_remaining_time_in_millis)
    publish(metrics, result.counts, result.latencies_ms)
    return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in result.failed]}
