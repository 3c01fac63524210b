"""Idempotency on RudderStack's messageId, with Powertools' DynamoDB persistence layer.

The Powertools decorators wrap one function call; here one invocation handles a body of many events and packs
them into shared Braze requests, so the persistence layer's own steps are used per event: *claim* (an
INPROGRESS record, which expires with the invocation if it dies), then *complete* (the outcomes of a body's events
are stored together, 25 records per BatchWriteItem, as the COMPLETED records Powertools itself writes) or
*release* (the record is deleted so that RudderStack's retry runs again).
"""

from __future__ import annotations

import json
import time
from typing import Any

from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer, IdempotencyConfig
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyItemAlreadyExistsError,
    IdempotencyItemNotFoundError,
)

from rudder_braze.adapters.aws import AwsClients, batch_get, batch_put
from rudder_braze.usecases.ports import ClaimOutcome


class IdempotencyTable:
    def __init__(self, table_name: str, expires_after_seconds: int, clients: AwsClients) -> None:
        self.layer = DynamoDBPersistenceLayer(table_name=table_name, boto3_client=clients.client("dynamodb"))
        self.layer.configure(
            IdempotencyConfig(event_key_jmespath="messageId", expires_after_seconds=expires_after_seconds),
            key_prefix="event",
        )

    def claim(self, message_id: str, remaining_ms: int | None) -> ClaimOutcome:
        data = {"messageId": message_id}
        try:
            self.layer.save_inprogress(data, remaining_ms)
            return ClaimOutcome.NEW
        except IdempotencyItemAlreadyExistsError as exists:
            record = exists.old_data_record
            if record is None:
                try:
                    record = self.layer.get_record(data)
                except IdempotencyItemNotFoundError:
                    return ClaimOutcome.BUSY  # it vanished between the two calls: let the sender retry
            if record is not None and record.status == "COMPLETED":
                return ClaimOutcome.DONE
            return ClaimOutcome.BUSY

    def look_up(self, message_ids: list[str]) -> dict[str, ClaimOutcome]:
        """What claiming each event would find, read (one strongly consistent read unit an event), nothing written:
        for a sender that never has two copies of an event in flight at once (``IngestService.handle``)."""
        layer = self.layer
        key_of = {message: layer._get_hashed_idempotency_key({"messageId": message}) for message in message_ids}
        items = batch_get(layer.client, layer.table_name, [key for key in key_of.values() if key is not None])
        now_ms = time.time() * 1000
        found: dict[str, ClaimOutcome] = {}
        for message_id, key in key_of.items():
            item = items.get(key) if key is not None else None
            record = layer._item_to_data_record(item) if item is not None else None
            if record is None or record.status == "EXPIRED":
                found[message_id] = ClaimOutcome.NEW
            elif record.status == "COMPLETED":
                found[message_id] = ClaimOutcome.DONE
            else:  # in progress: claimed by a call that has not ended (or died; its claim lapses with its deadline)
                until_ms = record.in_progress_expiry_timestamp
                alive = until_ms is None or int(until_ms) > now_ms
                found[message_id] = ClaimOutcome.BUSY if alive else ClaimOutcome.NEW
        return found

    def complete(self, outcomes: dict[str, dict[str, Any]]) -> None:
        """Store each claimed event's outcome: what Powertools' ``save_success`` writes, for many at once."""
        layer = self.layer
        expiry = {"N": str(layer._get_expiry_timestamp())}
        items = []
        for message_id, result in outcomes.items():
            key = layer._get_hashed_idempotency_key({"messageId": message_id})
            if key is not None:  # None only for an event without a messageId, which the bridge never claims
                items.append({**layer._get_key(key), layer.expiry_attr: expiry, layer.status_attr: {"S": "COMPLETED"},
                              layer.data_attr: {"S": json.dumps(result, sort_keys=True)}})  # fmt: skip
        batch_put(layer.client, layer.table_name, items)

    def release(self, message_id: str, reason: Exception) -> None:
        self.layer.delete_record({"messageId": message_id}, reason)

    def read(self, message_id: str) -> tuple[str, dict[str, Any]] | None:
        """The event's record: its status (INPROGRESS, COMPLETED or EXPIRED) and what :meth:`complete` stored."""
        try:
            record = self.layer.get_record({"messageId": message_id})
        except IdempotencyItemNotFoundError:
            return None
        if record is None:
            return None
        data = json.loads(record.response_data) if record.response_data else {}
        return record.status, data if isinstance(data, dict) else {}
