"""``POST /v1/deletions``: the HTTP side of deleting users (:mod:`rudder_braze.usecases.deletion`).

Body: ``{"userIds": [...]}`` and/or ``{"aliases": [{"alias_name", "alias_label"}]}``, at most 1,000 users. Answer:
200 when every user was deleted (or had been: ``already_deleted``), 202 when some wait in the retry queue (Braze
throttled or failed; they are deleted from there), 400 with the JSON path of what is wrong, 503 when some could be
neither sent nor queued, or another call is deleting them right now (call again: nothing is deleted twice).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any, Protocol

from rudder_braze.app.webhook import HttpAnswer
from rudder_braze.errors import InputError
from rudder_braze.usecases.deletion import DeletionResult, UserIdentifier, parse_deletions


class Deleting(Protocol):
    def handle(self, identifiers: list[UserIdentifier], remaining_ms: Callable[[], int]) -> DeletionResult: ...


class DeletionsRoute:
    def __init__(self, service: Callable[[], Deleting]) -> None:
        self._service = service

    def handle(self, document: Any, remaining_ms: Callable[[], int]) -> HttpAnswer:
        try:
            identifiers = parse_deletions(document)
        except InputError as exc:
            message = str(exc)
            return HttpAnswer(400, {"code": "invalid_body", "message": message, "error": message, "path": exc.path})
        result = self._service().handle(identifiers, remaining_ms)
        outcomes = [(identifier, result.outcome(identifier)) for identifier in result.identifiers]
        tally = Counter(outcome for _, outcome in outcomes)
        body: dict[str, Any] = {
            "received": len(outcomes),
            **{name: tally[name] for name in ("deleted", "already_deleted", "queued", "dead_lettered")},
            "results": [{**identifier.described(), "outcome": outcome} for identifier, outcome in outcomes],
        }
        if tally["in_progress"] or tally["not_queued"]:
            message = "some users could be neither deleted nor queued, or are being deleted by another call; retry"
            return HttpAnswer(503, {"code": "retry_later", "message": message, "error": message, **body},
                              result=result.ingest)  # fmt: skip
        return HttpAnswer(202 if tally["queued"] else 200, body, result=result.ingest)
