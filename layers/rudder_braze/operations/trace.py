"""``rudder-braze trace``: what happened to an event, from the state the bridge keeps (no payload values).

Per messageId, in this order: the idempotency record the ingest wrote (in progress; or its outcome, when it was
received, the Braze paths, attempts, the last error); for a queued event, how it ended (``outcome#``, written when
the retry or delivery function delivered or dead-lettered it), else whether the delivery function sent it or moved
it on (``done#``, buffered mode), else what the retry function made of it so far (``progress#``). The state expires
with the table's TTL: an event older than that is ``unknown``, as is one never received.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from rudder_braze.braze.requests import BrazeRequest

OUTCOMES = ("delivered", "queued", "dead_lettered", "filtered", "duplicate_of", "in_progress", "unknown")


class EventRecords(Protocol):
    """The ingest's idempotency records (:class:`rudder_braze.adapters.aws.idempotency.IdempotencyTable`)."""

    def read(self, message_id: str) -> tuple[str, dict[str, Any]] | None: ...


class QueuedEvents(Protocol):
    """What the state table keeps of queued events (:class:`rudder_braze.adapters.aws.state.StateTable`)."""

    def outcomes(self, keys: Sequence[str]) -> dict[str, dict[str, Any]]: ...
    def delivery_marks(self, keys: Sequence[str]) -> dict[str, bool]: ...
    def progress(self, keys: Sequence[str]) -> dict[str, tuple[list[BrazeRequest], int, str | None]]: ...


def _when(epoch: float | None) -> str | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds")


def _line(message_id: str, outcome: str, data: dict[str, Any], where: Any) -> dict[str, Any]:
    return {
        "messageId": message_id,
        "outcome": outcome,
        "receivedAt": _when(data.get("receivedAt")),
        "attempts": data.get("attempts", 0),
        "lastError": data.get("lastError"),
        "where": where,
    }


class EventTrace:
    def __init__(self, records: EventRecords, state: QueuedEvents, *, buffered: bool) -> None:
        self.records, self.state, self.buffered = records, state, buffered

    def trace(self, message_ids: Sequence[str]) -> list[dict[str, Any]]:
        """One line per messageId, in the order given."""
        found = {mid: self.records.read(mid) for mid in dict.fromkeys(message_ids)}
        queued = [mid for mid, record in found.items() if record and record[1].get("outcome") == "queued"]
        ended = self.state.outcomes(queued) if queued else {}
        marks = self.state.delivery_marks(queued) if queued and self.buffered else {}
        progress = self.state.progress(queued) if queued else {}
        lines = []
        for mid in message_ids:
            record = found[mid]
            if record is None:
                lines.append(_line(mid, "unknown", {}, "no record: never received, or older than the state's TTL"))
            elif record[0] == "INPROGRESS":
                lines.append(_line(mid, "in_progress", {}, "being handled by an invocation now"))
            elif mid in queued:
                lines.append(self._queued(mid, record[1], ended.get(mid), marks.get(mid), progress.get(mid)))
            else:
                lines.append(self._ended(mid, record[1].get("outcome", "unknown"), record[1]))
        return lines

    @staticmethod
    def _ended(message_id: str, outcome: str, data: dict[str, Any]) -> dict[str, Any]:
        where: Any = {
            "delivered": {"braze": data.get("paths", [])},
            "dead_lettered": "dead-letter queue (make dlq)",
            "filtered": "nothing to send",
        }.get(outcome)
        return _line(message_id, outcome if outcome in OUTCOMES else "unknown", data, where)

    def _queued(
        self,
        message_id: str,
        data: dict[str, Any],
        ended: dict[str, Any] | None,
        sent_by_delivery: bool | None,
        progress: tuple[list[BrazeRequest], int, str | None] | None,
    ) -> dict[str, Any]:
        if ended is not None:  # delivered or dead-lettered by the retry or delivery function
            return self._ended(message_id, ended.get("outcome", "unknown"), {**data, **ended})
        if sent_by_delivery:
            return self._ended(message_id, "delivered", data)
        if progress is not None:
            requests, attempts, last_error = progress
            left = {**data, "attempts": attempts, "lastError": last_error or data.get("lastError")}
            return _line(
                message_id, "queued", left, {"queue": "retry", "brazePathsLeft": sorted({r.path for r in requests})}
            )
        in_delivery_queue = self.buffered and sent_by_delivery is None
        return _line(message_id, "queued", data, {"queue": "delivery" if in_delivery_queue else "retry"})
