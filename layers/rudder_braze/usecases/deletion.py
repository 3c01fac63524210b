"""Delete users from Braze (``POST /v1/deletions``): what RudderStack's regulation API does for its Braze destination.

Each identifier becomes one accepted input of the ingest path (:meth:`IngestService.accept`), so a deletion is
claimed once (a repeated call deletes nothing twice and says so), waits behind the user's updates already in the
retry queue (same user, same FIFO group), goes through the retry queue when Braze throttles, and is dead-lettered
with its reason when Braze refuses it for good. Its key is a digest of the identifier: logs, metrics and the
idempotency record name the digest, never the identifier; the queue message holds the identifier (Braze needs it).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from rudder_braze.braze.requests import DELETE, BrazeRequest
from rudder_braze.delivery.dedup import user_key
from rudder_braze.delivery.message import PendingEvent
from rudder_braze.errors import InputError
from rudder_braze.limits import MAX_DELETIONS, MAX_IDENTIFIER_BYTES
from rudder_braze.usecases.ingest import Candidate, IngestResult, IngestService
from rudder_braze.usecases.ports import FingerprintStore

log = logging.getLogger("rudder_braze")

# What the sender is told of each identifier, from the ingest's outcome.
_ANSWERS = {"delivered": "deleted", "duplicate": "already_deleted", "queued": "queued",
            "dead_lettered": "dead_lettered"}  # fmt: skip
EVENT_TYPE = "deletion"


@dataclass(frozen=True, slots=True)
class UserIdentifier:
    """One user to delete: an external_id (RudderStack's userId) or a user alias."""

    external_id: str | None = None
    alias: tuple[str, str] | None = None  # (alias_name, alias_label)

    @property
    def user_alias(self) -> dict[str, str]:
        name, label = self.alias or ("", "")
        return {"alias_name": name, "alias_label": label}

    @property
    def braze_body(self) -> dict[str, Any]:
        if self.external_id is not None:
            return {"external_ids": [self.external_id]}
        return {"user_aliases": [self.user_alias]}

    @property
    def digest(self) -> str:
        canonical = json.dumps(self.braze_body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()

    @property
    def key(self) -> str:
        """The deletion's id on the delivery path (its idempotency key): a digest, never the identifier."""
        return f"deletion:{self.digest}"

    @property
    def user(self) -> str:
        """The ordering key of the user's events (:func:`rudder_braze.rudderstack.identity.user_of`): a userId is
        an external_id; RudderStack's anonymousId is the alias labelled ``rudder_id``."""
        if self.external_id is not None:
            return f"u:{self.external_id}"
        name, label = self.alias or ("", "")
        return f"a:{name}" if label == "rudder_id" else f"alias:{label}:{name}"

    @property
    def fingerprint_key(self) -> str | None:
        """Where ``supportDedup`` keeps this user's fingerprints (:func:`rudder_braze.delivery.dedup.user_key`)."""
        if self.external_id is not None:
            return user_key({"external_id": self.external_id})
        return user_key({"user_alias": self.user_alias})

    def described(self) -> dict[str, Any]:
        return {"userId": self.external_id} if self.external_id is not None else {"alias": self.user_alias}


def _text(value: Any, path: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InputError(f"{path} must be a non-empty string", path)
    if len(value.encode("utf-8", "surrogatepass")) > MAX_IDENTIFIER_BYTES:
        raise InputError(f"{path} is longer than {MAX_IDENTIFIER_BYTES} bytes", path)
    return value


def parse_deletions(document: Any) -> list[UserIdentifier]:
    """The identifiers of a ``/v1/deletions`` body; :class:`InputError` names the first bad place (a JSON path)."""
    if not isinstance(document, dict) or not ({"userIds", "aliases"} & document.keys()):
        raise InputError('$: the body must be {"userIds": [...]} and/or {"aliases": [{"alias_name", "alias_label"}]}')
    identifiers: list[UserIdentifier] = []
    user_ids = document.get("userIds", [])
    if not isinstance(user_ids, list):
        raise InputError("$.userIds must be an array of strings", "$.userIds")
    identifiers += [UserIdentifier(external_id=_text(v, f"$.userIds[{i}]")) for i, v in enumerate(user_ids)]
    aliases = document.get("aliases", [])
    if not isinstance(aliases, list):
        raise InputError("$.aliases must be an array of {alias_name, alias_label}", "$.aliases")
    for i, alias in enumerate(aliases):
        if not isinstance(alias, dict):
            raise InputError(f"$.aliases[{i}] must be an object with alias_name and alias_label", f"$.aliases[{i}]")
        name, label = (_text(alias.get(f), f"$.aliases[{i}].{f}") for f in ("alias_name", "alias_label"))
        identifiers.append(UserIdentifier(alias=(name, label)))
    if not identifiers:
        raise InputError("$: name at least one user in userIds or aliases")
    if len(identifiers) > MAX_DELETIONS:
        raise InputError(f"$: {len(identifiers)} users named; at most {MAX_DELETIONS} per call")
    return identifiers


@dataclass
class DeletionResult:
    identifiers: list[UserIdentifier]
    ingest: IngestResult

    def outcome(self, identifier: UserIdentifier) -> str:
        if identifier.key in self.ingest.in_progress:
            return "in_progress"
        if identifier.key in self.ingest.unqueued:
            return "not_queued"
        return _ANSWERS.get(self.ingest.outcomes.get(identifier.key, ""), "unknown")


class DeletionService:
    """Delete users through the delivery path, exactly once per identifier; an audit line per identifier."""

    def __init__(
        self,
        ingest: IngestService,
        fingerprints: FingerprintStore | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.ingest = ingest
        self.fingerprints = fingerprints
        self.clock = clock or ingest.clock

    def handle(self, identifiers: list[UserIdentifier], remaining_ms: Callable[[], int]) -> DeletionResult:
        now = self.clock()
        unique = list(dict.fromkeys(identifiers))
        candidates = {
            identifier.key: Candidate(
                PendingEvent(identifier.key, identifier.user, [BrazeRequest(DELETE, identifier.braze_body)], now,
                             seq=index, happened_at=now),
                EVENT_TYPE,
            )
            for index, identifier in enumerate(unique)
        }  # fmt: skip
        self._forget_fingerprints(unique)
        result = IngestResult(len(unique), counts=Counter(DeletionsReceived=len(unique)))
        deletion = DeletionResult(unique, self.ingest.accept(candidates, result, remaining_ms))
        at = datetime.fromtimestamp(now, UTC).isoformat(timespec="seconds")
        for identifier in unique:
            log.info("user deletion", extra={"identifierDigest": identifier.digest, "at": at,
                                             "outcome": deletion.outcome(identifier)})  # fmt: skip
        return deletion

    def _forget_fingerprints(self, identifiers: list[UserIdentifier]) -> None:
        """``supportDedup`` must not take a deleted user's old values for known: a re-created profile would miss
        them. Forgotten when the deletion is accepted (an update delivered before Braze runs the deletion is
        remembered again: the fingerprints then expire by their TTL)."""
        if self.fingerprints is None:
            return
        keys = {key for key in (identifier.fingerprint_key for identifier in identifiers) if key is not None}
        try:
            self.fingerprints.save({key: {} for key in sorted(keys)})
        except Exception as exc:
            log.warning("could not forget deleted users' fingerprints (%s)", type(exc).__name__)
