"""``supportDedup`` around a delivery: unchanged attributes stripped before sending, what Braze accepted remembered."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from rudder_braze.delivery.dedup import Fingerprints, deduplicate_requests, user_keys
from rudder_braze.delivery.message import PendingEvent
from rudder_braze.usecases.ports import FingerprintStore

log = logging.getLogger("rudder_braze")


@dataclass
class DedupRound:
    known: dict[str, Fingerprints]
    proposed: dict[str, Fingerprints]
    writers: dict[str, set[str]]  # user key → the events that write that user's attributes


class AttributeDedup:
    """``supportDedup`` against the fingerprint store: strip unchanged attributes before sending, and remember what
    Braze accepted afterwards. A user's fingerprints are saved only when every event writing to that user in the
    round was delivered, so a value Braze never took is never taken for known."""

    def __init__(self, store: FingerprintStore) -> None:
        self.store = store

    def strip(self, events: Sequence[PendingEvent]) -> DedupRound | None:
        writes = {event.key: user_keys(event.requests) for event in events}
        users = sorted(set().union(*writes.values())) if writes else []
        if not users:
            return None
        try:
            known = self.store.load(users)
        except Exception as exc:  # unknown means send everything: more data points, never a missed change
            log.warning("fingerprint lookup failed (%s); sending every attribute", type(exc).__name__)
            return None
        proposed = dict(known)
        writers: dict[str, set[str]] = {}
        for event in events:
            event.requests = deduplicate_requests(event.requests, proposed, known_is_profile=False)
            for user in writes[event.key]:
                writers.setdefault(user, set()).add(event.key)
        return DedupRound(known, proposed, writers)

    def remember(self, round_: DedupRound | None, delivered: Sequence[str]) -> None:
        if round_ is None:
            return
        done = set(delivered)
        changed = {
            user: round_.proposed[user]
            for user, keys in round_.writers.items()
            if keys <= done and round_.proposed.get(user) != round_.known.get(user)
        }
        if not changed:
            return
        try:
            self.store.save(changed)
        except Exception as exc:  # the next event simply sends its attributes again
            log.warning("could not save fingerprints (%s)", type(exc).__name__)
