"""Per-user and per-event state in the bridge's DynamoDB table (the idempotency table, key ``id``, TTL
``expiration``): which users have updates waiting in the retry queue, and what a retried event still has to send.

Item ids: ``pending#<user>`` (a counter of the user's queued events, the user's turn to send and the positions
of the attribute values Braze last took, :mod:`rudder_braze.delivery.ordering`), ``progress#<messageId>`` (the requests
left and the attempts made, written only when a retry made progress or failed), ``done#<messageId>`` (a
delivery-queue message already handled, so a second copy of it is not sent again), ``outcome#<messageId>`` (how a
queued event ended: delivered or dead-lettered, for ``rudder-braze trace``) and ``fp#<user key>`` (the
fingerprints of the attribute values Braze last accepted for a user, for ``supportDedup``). An id whose identifier
is long is ``<kind>#sha256:<digest>`` instead (:func:`item_id`), so no input can exceed DynamoDB's key limit.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
from collections.abc import Iterable
from typing import Any

from rudder_braze.adapters.aws import AwsClients, batch_get, batch_put
from rudder_braze.braze.requests import BrazeRequest
from rudder_braze.delivery.dedup import Fingerprints
from rudder_braze.delivery.message import PendingEvent
from rudder_braze.delivery.ordering import Turn, Written
from rudder_braze.parallel import in_parallel

# Identifiers up to this size stay readable in the id; longer ones are digested (DynamoDB's key limit is 2,048 bytes).
_PLAIN_ID_BYTES = 256


def item_id(kind: str, identifier: str) -> str:
    """The state table id of ``identifier``'s item of ``kind``: readable when short, a digest when long."""
    raw = identifier.encode("utf-8", "surrogatepass")
    if len(raw) <= _PLAIN_ID_BYTES:
        return f"{kind}#{identifier}"
    return f"{kind}#sha256:{hashlib.sha256(raw).hexdigest()}"


def _ids(kind: str, identifiers: Iterable[str]) -> dict[str, str]:
    """Item id → identifier, for reading items back by what they are about."""
    return {item_id(kind, identifier): identifier for identifier in identifiers}


class StateTable:
    def __init__(self, table_name: str, clients: AwsClients, ttl_seconds: int = 3 * 24 * 3600) -> None:
        self.table_name = table_name
        self.clients = clients
        self.ttl_seconds = ttl_seconds

    @property
    def client(self) -> Any:
        return self.clients.client("dynamodb")

    def _expiration(self) -> dict[str, str]:
        return {"N": str(int(time.time()) + self.ttl_seconds)}

    def get_items(self, ids: list[str]) -> dict[str, dict[str, Any]]:
        """Items by id (strongly consistent, 100 per call; ids not found are absent)."""
        return batch_get(self.client, self.table_name, ids)

    def put_items(self, items: list[dict[str, Any]]) -> None:
        """Write whole items, 25 per call, until DynamoDB has processed every one."""
        batch_put(self.client, self.table_name, items)

    # --- users with events waiting in the retry queue -----------------------------------------------------------

    def change_pending(self, user: str, delta: int) -> None:
        self.client.update_item(
            TableName=self.table_name,
            Key={"id": {"S": item_id("pending", user)}},
            UpdateExpression="ADD #count :delta SET #expiration = :expiration",
            ExpressionAttributeNames={"#count": "count", "#expiration": "expiration"},
            ExpressionAttributeValues={":delta": {"N": str(delta)}, ":expiration": self._expiration()},
        )

    # --- one delivery at a time per user ------------------------------------------------------------------------

    def take_turn(self, user: str, owner: str, seconds: float) -> Turn:
        """Take ``user``'s turn to send for ``seconds`` unless another delivery holds it; with it come the user's
        pending count and written positions (read in the same call)."""
        now = time.time()
        try:
            answer = self.client.update_item(
                TableName=self.table_name,
                Key={"id": {"S": item_id("pending", user)}},
                UpdateExpression="SET #owner = :owner, #until = :until, "
                "#expiration = if_not_exists(#expiration, :expiration)",
                ConditionExpression="attribute_not_exists(#until) OR #until < :now OR #owner = :owner",
                ExpressionAttributeNames={"#owner": "turnOwner", "#until": "turnUntil", "#expiration": "expiration"},
                ExpressionAttributeValues={
                    ":owner": {"S": owner},
                    ":until": {"N": str(now + seconds)},
                    ":now": {"N": str(now)},
                    ":expiration": self._expiration(),
                },
                ReturnValues="ALL_OLD",
            )
        except self.client.exceptions.ConditionalCheckFailedException:
            return Turn(mine=False)
        return _turn(answer.get("Attributes", {}), mine=True, now=now)

    def read_turns(self, users: Iterable[str]) -> dict[str, Turn]:
        """Each user's turn as it stands, read (strongly consistent), not taken: ``mine`` when no delivery holds it."""
        ids = _ids("pending", users)
        items = self.get_items(list(ids))
        now = time.time()
        turns = {user: Turn(mine=True) for user in ids.values()}
        for found, item in items.items():
            held = "turnOwner" in item and float(item.get("turnUntil", {}).get("N", "0")) >= now
            turns[ids[found]] = _turn(item, mine=not held, now=now)
        return turns

    def end_turn(self, user: str, owner: str, written: Written | None, pending_delta: int = 0) -> None:
        """Give ``user``'s turn back, storing the positions Braze now has (``None``: unchanged) and changing the
        pending count by ``pending_delta`` (events of the user this delivery queued, or took off the queue) in the
        same write: while the turn is held nobody reads the count, so raising it here is not too late."""
        values: dict[str, Any] = {":owner": {"S": owner}, ":free": {"N": "0"}}
        update = "SET #until = :free"
        names = {"#owner": "turnOwner", "#until": "turnUntil"}
        if written is not None or pending_delta:
            update += ", #expiration = :expiration"
            names["#expiration"] = "expiration"
            values[":expiration"] = self._expiration()
        if written is not None:
            update += ", #written = :written"
            names["#written"] = "written"
            values[":written"] = {"S": json.dumps(written, separators=(",", ":"))}
        update += " REMOVE #owner"
        if pending_delta:
            update += " ADD #count :delta"
            names["#count"] = "count"
            values[":delta"] = {"N": str(pending_delta)}
        self.client.update_item(
            TableName=self.table_name,
            Key={"id": {"S": item_id("pending", user)}},
            UpdateExpression=update,
            ConditionExpression="#owner = :owner",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )

    # --- progress of retried events ---------------------------------------------------------------------------

    def progress(self, keys: Iterable[str]) -> dict[str, tuple[list[BrazeRequest], int, str | None]]:
        ids = _ids("progress", keys)
        items = self.get_items(list(ids))
        return {
            ids[found]: (
                [BrazeRequest(r["path"], r["body"]) for r in json.loads(item["requests"]["S"])],
                int(item["attempts"]["N"]),
                item.get("lastError", {}).get("S"),
            )
            for found, item in items.items()
        }

    def save_progress(self, event: PendingEvent) -> None:
        self.client.put_item(
            TableName=self.table_name,
            Item={
                "id": {"S": item_id("progress", event.key)},
                "requests": {"S": json.dumps([{"path": r.path, "body": r.body} for r in event.requests])},
                "attempts": {"N": str(event.attempts)},
                "lastError": {"S": event.last_error or ""},
                "expiration": self._expiration(),
            },
        )

    def clear_progress(self, key: str) -> None:
        self.client.delete_item(TableName=self.table_name, Key={"id": {"S": item_id("progress", key)}})

    # --- delivery-queue messages already handled ------------------------------------------------------------

    def delivery_marks(self, keys: Iterable[str]) -> dict[str, bool]:
        ids = _ids("done", keys)
        return {ids[found]: bool(item.get("sent", {}).get("BOOL")) for found, item in self.get_items(list(ids)).items()}

    def mark_finished(self, sent: Iterable[str], moved: Iterable[str]) -> None:
        """``done#`` marks: unconditional for what a delivery sent; for what it moved on, only where no mark is yet,
        so a concurrent delivery's "sent" is never overwritten (one conditional put per moved event)."""
        expiration = self._expiration()
        self.put_items([{"id": {"S": item_id("done", key)}, "expiration": expiration, "sent": {"BOOL": True}}
                        for key in sent])  # fmt: skip

        def mark_moved(key: str) -> None:
            # A failed condition: marked already (sent, by a delivery of another copy).
            with contextlib.suppress(self.client.exceptions.ConditionalCheckFailedException):
                self.client.put_item(
                    TableName=self.table_name,
                    Item={"id": {"S": item_id("done", key)}, "expiration": expiration},
                    ConditionExpression="attribute_not_exists(id)",
                )

        in_parallel(mark_moved, list(moved))

    # --- how queued events ended ------------------------------------------------------------------------------

    def record_outcomes(self, outcomes: dict[str, dict[str, Any]]) -> None:
        expiration = self._expiration()
        self.put_items([_outcome_item(key, outcome, expiration) for key, outcome in outcomes.items()])

    def outcomes(self, keys: Iterable[str]) -> dict[str, dict[str, Any]]:
        ids = _ids("outcome", keys)
        return {ids[found]: json.loads(item["outcome"]["S"]) for found, item in self.get_items(list(ids)).items()}


def _turn(item: dict[str, Any], *, mine: bool, now: float) -> Turn:
    """A user's turn from their ``pending#`` item: the pending count (while the item lives) and written positions."""
    live = int(item.get("expiration", {}).get("N", "0")) > now
    written = (
        {k: (float(a), float(b), int(c)) for k, (a, b, c) in json.loads(item["written"]["S"]).items()}
        if "written" in item
        else None
    )
    return Turn(mine=mine, pending=int(item.get("count", {}).get("N", "0")) if live else 0, written=written)


def _outcome_item(key: str, outcome: dict[str, Any], expiration: dict[str, str]) -> dict[str, Any]:
    return {"id": {"S": item_id("outcome", key)}, "outcome": {"S": json.dumps(outcome, separators=(",", ":"))},
            "expiration": expiration}  # fmt: skip


class FingerprintTable:
    """``supportDedup`` fingerprints in the state table, one item per user, expiring ``ttl_seconds`` after the last
    write (so a profile changed in Braze by something else is trusted again after that long at most)."""

    def __init__(self, table: StateTable, ttl_seconds: int = 7 * 24 * 3600) -> None:
        self.table = table
        self.ttl_seconds = ttl_seconds

    def load(self, users: Iterable[str]) -> dict[str, Fingerprints]:
        ids = _ids("fp", users)
        items = self.table.get_items(list(ids))
        now = time.time()
        return {
            ids[found]: json.loads(item["fingerprints"]["S"])
            for found, item in items.items()
            if int(item.get("expiration", {}).get("N", "0")) > now
        }

    def save(self, fingerprints: dict[str, Fingerprints]) -> None:
        expiration = {"N": str(int(time.time()) + self.ttl_seconds)}
        self.table.put_items(
            [
                {
                    "id": {"S": item_id("fp", user)},
                    "fingerprints": {"S": json.dumps(values, separators=(",", ":"), sort_keys=True)},
                    "expiration": expiration,
                }
                for user, values in fingerprints.items()
            ]
        )
