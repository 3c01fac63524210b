"""``make dlq ENV=<env>`` and ``make redrive ENV=<env>``: what is in the dead-letter queue and why; send it back.

``show`` prints one line per dead-lettered event: messageId, user, reason, attempts, the Braze paths it still
needs, when it was dead-lettered. Bodies are not printed (they hold personal data); queue messages never hold
credentials. ``redrive`` moves every message back to the retry queue with a fresh retry budget (attempts 0, first
seen now) and deletes it from the DLQ only once the retry queue has it.

Not an SQS message move task: a move task re-sends a message unchanged, so an event dead-lettered for its age
would be dead-lettered again at once; the retry budget lives in the message and must be reset.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from typing import Any

from rudder_braze.adapters.aws import AwsClients
from rudder_braze.adapters.aws.queue import group_id
from rudder_braze.delivery.message import PendingEvent, QueueFormatError
from rudder_braze.operations.bridge import stack_outputs


def _receive_all(sqs: Any, url: str, visibility: int = 60) -> list[dict[str, Any]]:
    seen: dict[str, dict[str, Any]] = {}
    while True:
        batch = sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"], VisibilityTimeout=visibility
        ).get("Messages", [])
        if not batch or all(m["MessageId"] in seen for m in batch):
            return list(seen.values())
        seen.update((m["MessageId"], m) for m in batch)


def describe(message: dict[str, Any]) -> dict[str, Any]:
    attributes = message.get("MessageAttributes", {})
    reason = attributes.get("reason", {}).get("StringValue", "?")
    at = attributes.get("deadLetteredAt", {}).get("StringValue")
    try:
        event = PendingEvent.from_message(message["Body"])
    except QueueFormatError:
        return {"messageId": None, "reason": reason, "readable": False}
    return {
        "messageId": event.key,
        "user": event.user,
        "reason": reason,
        "attempts": event.attempts,
        "paths": [r.path for r in event.requests],
        "deadLetteredAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(at))) if at else None,
    }


def show(sqs: Any, dead_letter_url: str) -> list[dict[str, Any]]:
    messages = _receive_all(sqs, dead_letter_url, visibility=0)
    return [describe(m) for m in messages]


def redrive(sqs: Any, dead_letter_url: str, retry_url: str) -> int:
    moved = 0
    for message in _receive_all(sqs, dead_letter_url, visibility=120):
        try:
            event = PendingEvent.from_message(message["Body"])
        except QueueFormatError:
            continue  # not an event: leave it in the DLQ for a person to read
        event.attempts, event.first_seen, event.last_error = 0, time.time(), f"redriven: {event.last_error}"
        dedup = hashlib.sha256(f"{event.key}#redrive#{message['MessageId']}".encode()).hexdigest()
        sqs.send_message(
            QueueUrl=retry_url, MessageBody=event.to_message(), MessageGroupId=group_id(event.user),
            MessageDeduplicationId=dedup,
        )  # fmt: skip
        sqs.delete_message(QueueUrl=dead_letter_url, ReceiptHandle=message["ReceiptHandle"])
        moved += 1
    return moved


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["show", "redrive"])
    parser.add_argument("--env", required=True)
    parser.add_argument("--stack", help="stack name (default rudder-braze-<env>)")
    args = parser.parse_args(argv)
    import boto3

    outputs = stack_outputs(AwsClients(), args.stack or f"rudder-braze-{args.env}")
    sqs = boto3.client("sqs")
    if args.command == "show":
        entries = show(sqs, outputs["DeadLetterQueueUrl"])
        for entry in entries:
            print(json.dumps(entry))
        print(f"{len(entries)} message(s) in the dead-letter queue", file=sys.stderr)
    else:
        moved = redrive(sqs, outputs["DeadLetterQueueUrl"], outputs["RetryQueueUrl"])
        print(f"moved {moved} message(s) back to the retry queue", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
