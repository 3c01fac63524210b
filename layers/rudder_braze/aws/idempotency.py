"""Idempotency on RudderStack's messageId, with Powertools' DynamoDB persistence layer.

The Powertools decorators wrap one function call; here one invocation handles a body of many events and packs
them into shared Braze requests, so the persistence layer's own steps are used per event: *claim* (an
INPROGRESS record, which expires with the invocation if it dies), then *complete* (the outcome is stored) or
*release* (the record is deleted so that RudderStack's retry runs again).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer, IdempotencyConfig
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyItemAlreadyExistsError,
    IdempotencyItemNotFoundError,
)

from rudder_braze.ports import Claim, ClaimResult


class EventGate:
    def __init__(self, table_name: str, expires_after_seconds: int, client: Any = None) -> None:
        self.layer = DynamoDBPersistenceLayer(table_name=table_name, boto3_client=client)
        self.layer.configure(
            IdempotencyConfig(event_key_jmespath="messageId", expires_after_seconds=expires_after_seconds),
            key_prefix="event",
        )

    def claim(self, message_id: str, remaining_ms: int | None) -> ClaimResult:
        data = {"messageId": message_id}
        try:
            self.layer.save_inprogress(data, remaining_ms)
            return ClaimResult(Claim.NEW)
        except IdempotencyItemAlreadyExistsError as exists:
            record = exists.old_data_record
            if record is None:
                try:
                    record = self.layer.get_record(data)
                except IdempotencyItemNotFoundError:
                    return ClaimResult(Claim.BUSY)  # it vanished between the two calls: let the sender retry
            if record is not None and record.status == "COMPLETED":
                return ClaimResult(Claim.DONE, record.response_json_as_dict())
            return ClaimResult(Claim.BUSY)

    def complete(self, message_id: str, result: dict[str, Any]) -> None:
        self.layer.save_success({"messageId": message_id}, result)

    def release(self, message_id: str, reason: Exception) -> None:
        self.layer.delete_record({"messageId": message_id}, reason)
