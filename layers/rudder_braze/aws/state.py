"""Per-user and per-event state in the bridge's DynamoDB table (the idempotency table, key ``id``, TTL
``expiration``): which users have updates waiting in the retry queue, and what a retried event still has to send.

Item ids: ``pending#<user>`` (a counter of the user's queued events), ``progress#<messageId>`` (the requests
left and the attempts made, written only when a retry made progress or failed), ``done#<messageId>`` (a
delivery-queue message already handled, so a second copy of it is not sent again) and ``fp#<user key>`` (the
fingerprints of the attribute values Braze last accepted for a user, for ``supportDedup``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from typing import Any

from rudder_braze.aws import aws_client
from rudder_braze.dedup import Fingerprints
from rudder_braze.delivery import PendingEvent
from rudder_braze.mapping import BrazeRequest


class StateTable:
    def __init__(self, table_name: str, client: Any = None, ttl_seconds: int = 3 * 24 * 3600) -> None:
        self.table_name = table_name
        self._client = client
        self.ttl_seconds = ttl_seconds

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = aws_client("dynamodb")
        return self._client

    def _expiration(self) -> dict[str, str]:
        return {"N": str(int(time.time()) + self.ttl_seconds)}

    def get_items(self, ids: list[str]) -> dict[str, dict[str, Any]]:
        """Items by id (strongly consistent, 100 per call; ids not found are absent)."""
        found: dict[str, dict[str, Any]] = {}
        unique = list(dict.fromkeys(ids))
        for start in range(0, len(unique), 100):
            keys: list[dict[str, Any]] = [{"id": {"S": item_id}} for item_id in unique[start : start + 100]]
            while keys:
                answer = self.client.batch_get_item(
                    RequestItems={self.table_name: {"Keys": keys, "ConsistentRead": True}}
                )
                for item in answer.get("Responses", {}).get(self.table_name, ()):
                    found[item["id"]["S"]] = item
                keys = answer.get("UnprocessedKeys", {}).get(self.table_name, {}).get("Keys", [])
        return found

    def put_items(self, items: list[dict[str, Any]]) -> None:
        """Write whole items, 25 per call, until DynamoDB has processed every one."""
        for start in range(0, len(items), 25):
            writes: list[dict[str, Any]] = [{"PutRequest": {"Item": item}} for item in items[start : start + 25]]
            while writes:
                answer = self.client.batch_write_item(RequestItems={self.table_name: writes})
                writes = answer.get("UnprocessedItems", {}).get(self.table_name, [])

    # --- users with events waiting in the retry queue -----------------------------------------------------------

    def users_with_pending(self, users: Iterable[str]) -> set[str]:
        ids = {f"pending#{user}": user for user in users}
        if not ids:
            return set()
        items = self.get_items(list(ids))
        now = time.time()
        return {
            ids[item_id]
            for item_id, item in items.items()
            if int(item.get("count", {}).get("N", "0")) > 0 and int(item.get("expiration", {}).get("N", "0")) > now
        }

    def change_pending(self, user: str, delta: int) -> None:
        self.client.update_item(
            TableName=self.table_name,
            Key={"id": {"S": f"pending#{user}"}},
            UpdateExpression="ADD #count :delta SET #expiration = :expiration",
            ExpressionAttributeNames={"#count": "count", "#expiration": "expiration"},
            ExpressionAttributeValues={":delta": {"N": str(delta)}, ":expiration": self._expiration()},
        )

    # --- progress of retried events ---------------------------------------------------------------------------

    def progress(self, keys: Iterable[str]) -> dict[str, tuple[list[BrazeRequest], int, str | None]]:
        items = self.get_items([f"progress#{key}" for key in keys])
        return {
            item_id.removeprefix("progress#"): (
                [BrazeRequest(r["path"], r["body"]) for r in json.loads(item["requests"]["S"])],
                int(item["attempts"]["N"]),
                item.get("lastError", {}).get("S"),
            )
            for item_id, item in items.items()
        }

    def save_progress(self, event: PendingEvent) -> None:
        self.client.put_item(
            TableName=self.table_name,
            Item={
                "id": {"S": f"progress#{event.key}"},
                "requests": {"S": json.dumps([{"path": r.path, "body": r.body} for r in event.requests])},
                "attempts": {"N": str(event.attempts)},
                "lastError": {"S": event.last_error or ""},
                "expiration": self._expiration(),
            },
        )

    def clear_progress(self, key: str) -> None:
        self.client.delete_item(TableName=self.table_name, Key={"id": {"S": f"progress#{key}"}})

    # --- delivery-queue messages already handled ------------------------------------------------------------

    def finished(self, keys: Iterable[str]) -> set[str]:
        return {item_id.removeprefix("done#") for item_id in self.get_items([f"done#{key}" for key in keys])}

    def mark_finished(self, keys: Iterable[str]) -> None:
        expiration = self._expiration()
        self.put_items([{"id": {"S": f"done#{key}"}, "expiration": expiration} for key in keys])


class FingerprintTable:
    """``supportDedup`` fingerprints in the state table, one item per user, expiring ``ttl_seconds`` after the last
    write (so a profile changed in Braze by something else is trusted again after that long at most)."""

    def __init__(self, table: StateTable, ttl_seconds: int = 7 * 24 * 3600) -> None:
        self.table = table
        self.ttl_seconds = ttl_seconds

    def load(self, users: Iterable[str]) -> dict[str, Fingerprints]:
        items = self.table.get_items([f"fp#{user}" for user in users])
        now = time.time()
        return {
            item_id.removeprefix("fp#"): json.loads(item["fingerprints"]["S"])
            for item_id, item in items.items()
            if int(item.get("expiration", {}).get("N", "0")) > now
        }

    def save(self, fingerprints: dict[str, Fingerprints]) -> None:
        expiration = {"N": str(int(time.time()) + self.ttl_seconds)}
        self.table.put_items(
            [
                {
                    "id": {"S": f"fp#{user}"},
                    "fingerprints": {"S": json.dumps(values, separators=(",", ":"), sort_keys=True)},
                    "expiration": expiration,
                }
                for user, values in fingerprints.items()
            ]
        )
