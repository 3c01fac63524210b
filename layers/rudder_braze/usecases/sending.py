"""What the three ways to Braze share: users' turns, holding back, sending packed, counting and logging."""

from __future__ import annotations

import logging
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from rudder_braze.braze.client import Outcome
from rudder_braze.config import BrazeSettings
from rudder_braze.delivery.message import PendingEvent, trace_fields
from rudder_braze.delivery.ordering import Turn, drop_overwritten, merged, writes
from rudder_braze.delivery.sending import DeliveryReport, deliver
from rudder_braze.parallel import in_parallel
from rudder_braze.usecases.attribute_dedup import AttributeDedup
from rudder_braze.usecases.ports import QueueError, RetryQueuePort, Send, StateStore
from rudder_braze.usecases.queue_batch import QueueRecord

log = logging.getLogger("rudder_braze")


def _count_calls(report: DeliveryReport, counts: Counter[str], latencies: list[float]) -> None:
    for call in report.calls:
        counts["BrazeRequests"] += 1
        if call.outcome is Outcome.THROTTLED:
            counts["BrazeThrottled"] += 1
        if call.ambiguous:
            counts["BrazeAmbiguousTimeouts"] += 1
            log.warning("Braze's answer did not come in time; the request may have been stored and is sent again",
                        extra={"path": call.path, "events": call.events})  # fmt: skip
        latencies.append(call.elapsed_ms)


def log_partial_errors(
    report: DeliveryReport, counts: Counter[str], records: dict[str, QueueRecord] | None = None
) -> None:
    """Log and count the objects Braze refused, per event, with the SQS record it came from."""
    for key, errors in report.item_errors.items():
        counts["PartialErrors"] += len(errors)
        where = {"sqsMessageId": records[key].message_id} if records and key in records else {}
        log.warning("Braze refused part of an event", extra={"messageId": key, "errors": errors, **where})


@dataclass(frozen=True, slots=True)
class BrazePorts:
    """What every way to Braze uses: the Braze sender, the retry (and dead-letter) queue, the state table, and the
    ``supportDedup`` fingerprints when the destination turns them on."""

    send: Send
    queue: RetryQueuePort
    state: StateStore
    dedup: AttributeDedup | None = None


@dataclass(frozen=True, slots=True)
class Timing:
    """Time as a use case sees it."""

    clock: Callable[[], float] = time.time
    sleep: Callable[[float], None] = time.sleep
    reserve_ms: int = 5000  # no Braze call starts with less of the invocation left


REAL_TIME = Timing()


class OrderedSending:
    """What the three ways to Braze share: the users' turns (one delivery at a time sends a user's events,
    :mod:`rudder_braze.delivery.ordering`), holding the events of users whose updates wait in the retry queue, and
    sending the rest packed (without unchanged attributes under ``supportDedup``), counted and logged."""

    rounds = 1  # sends of what Braze throttled or failed, within one invocation

    def __init__(self, settings: BrazeSettings, ports: BrazePorts, timing: Timing = REAL_TIME) -> None:
        self.settings = settings
        self.send, self.queue, self.state, self.dedup = ports.send, ports.queue, ports.state, ports.dedup
        self.clock, self.sleep, self.reserve_ms = timing.clock, timing.sleep, timing.reserve_ms

    @staticmethod
    def _put(events: list[PendingEvent], put: Callable[[Sequence[PendingEvent]], None]) -> tuple[set[str], str | None]:
        """Put events on a queue: the keys of those that could not be put there, and why."""
        if not events:
            return set(), None
        try:
            put(events)
        except QueueError as exc:
            log.error("could not put events on a queue (%s)", exc)
            return set(exc.keys) & {event.key for event in events}, str(exc)
        except Exception as exc:
            log.error("could not put events on a queue (%s)", type(exc).__name__)
            return {event.key for event in events}, type(exc).__name__
        return set(), None

    def _take_turns(
        self, events: Sequence[PendingEvent], remaining_ms: Callable[[], int]
    ) -> tuple[str, dict[str, Turn]]:
        """Take the turn of each user of ``events`` for the rest of the invocation: their events are this delivery's
        to send (``mine``) or wait for the delivery that holds it. A turn that cannot be read is not ours."""
        owner, seconds = uuid.uuid4().hex, remaining_ms() / 1000 + 1

        def take(user: str) -> Turn:
            try:
                return self.state.take_turn(user, owner, seconds)
            except Exception as exc:
                log.warning("could not take a user's turn (%s); their events wait", type(exc).__name__)
                return Turn(mine=False)

        users = sorted({event.user for event in events})
        return owner, dict(zip(users, in_parallel(take, users), strict=True))

    def _read_turns(self, events: Sequence[PendingEvent]) -> dict[str, Turn]:
        """The turns of the users of ``events`` as they stand, read in one call and not taken: for a sender that sends
        a user's events one at a time (none of them can be racing this one), the turn only says whether the user's
        events wait in the retry queue or the retry function is sending them. A turn that cannot be read is not ours."""
        users = sorted({event.user for event in events})
        try:
            return self.state.read_turns(users)
        except Exception as exc:
            log.warning("could not read the users' turns (%s); their events wait", type(exc).__name__)
            return dict.fromkeys(users, Turn(mine=False))

    def _end_turns(
        self,
        owner: str,
        turns: dict[str, Turn],
        sent: Sequence[PendingEvent],
        unsent: Sequence[PendingEvent],
        pending: Counter[str],
    ) -> None:
        """Give the turns back with the positions of what Braze took, each with the change of the user's pending
        count (``pending``: events this delivery queued, or took off the retry queue) in the same write; a user whose
        turn another delivery holds, or whose turn was only read (no ``owner``), has the count changed alone. One write
        per user, side by side. Never raises: a turn also ends by itself, and a count left unchanged only affects
        whether the user's next events wait in the queue behind these (until the count's TTL)."""
        taken = writes(sent, unsent)

        def end(user: str) -> None:
            turn = turns.get(user)
            try:
                if owner and turn is not None and turn.mine:
                    written = merged(turn.written, taken[user]) if user in taken else None
                    self.state.end_turn(user, owner, written, pending[user])
                else:
                    self.state.change_pending(user, pending[user])
            except Exception as exc:
                log.warning("could not give a user's turn back or count their queued events (%s)",
                            type(exc).__name__)  # fmt: skip

        mine = {user for user, turn in turns.items() if turn.mine} if owner else set()
        in_parallel(end, sorted(mine | {user for user, delta in pending.items() if delta}))

    @staticmethod
    def _hold_back(
        events: list[PendingEvent], turns: dict[str, Turn], counts: Counter[str]
    ) -> tuple[list[PendingEvent], list[PendingEvent]]:
        """``(held, sendable)``: a user whose turn another delivery holds, or with updates waiting in the retry
        queue, has these events queued behind them. What newer events already wrote to Braze is taken out of the
        sendable ones (counted ``ValuesOverwritten``)."""
        held, sendable = [], []
        for event in events:
            turn = turns[event.user]
            if turn.mine and not turn.pending:
                sendable.append(event)
                continue
            event.last_error = ("held behind this user's updates already waiting in the retry queue" if turn.mine
                                else "held: another delivery is sending this user's events")  # fmt: skip
            held.append(event)
        written = {user: turn.written for user, turn in turns.items() if turn.written}
        counts["ValuesOverwritten"] += drop_overwritten(sendable, written)
        return held, sendable

    def _deliver(
        self,
        events: list[PendingEvent],
        remaining_ms: Callable[[], int],
        counts: Counter[str],
        latencies: list[float],
        *,
        bookkeeping_ms: int = 0,
    ) -> DeliveryReport:
        """Send now, counting the calls; the caller reports the objects Braze refused (:func:`log_partial_errors`).

        No Braze call starts with less than the reserve (the longest call) plus ``bookkeeping_ms`` (the time the
        caller needs afterwards to queue and record what is left) of the invocation left. With ``rounds`` > 1,
        what Braze throttled or failed is sent again, still packed and in order, after its rate-limit reset or
        1, 2, 4… s, while the invocation has time for it."""
        dedup_round = self.dedup.strip(events) if self.dedup else None
        total = DeliveryReport()
        reserve_ms = self.reserve_ms + bookkeeping_ms
        rounds = self.rounds
        for round_ in range(max(1, rounds)):
            report = deliver(
                events, self.send, self.settings.track_batch_rule, should_stop=lambda: remaining_ms() < reserve_ms
            )
            total.delivered += report.delivered
            total.dead += report.dead
            total.item_errors.update(report.item_errors)
            total.calls += report.calls
            total.retry, total.retry_after = report.retry, report.retry_after
            events = report.retry
            wait = report.retry_after if report.retry_after is not None else float(2**round_)
            if not events or round_ >= rounds - 1 or remaining_ms() - wait * 1000 < 2 * reserve_ms:
                break
            log.info("sending again after a wait", extra={"events": len(events), "waitSeconds": wait})
            self.sleep(wait)
        _count_calls(total, counts, latencies)
        if self.dedup:
            self.dedup.remember(dedup_round, total.delivered)
        return total

    def _record_outcomes(self, ended: dict[str, tuple[str, PendingEvent]]) -> None:
        """How these events ended, for ``rudder-braze trace`` (one write unit per event that went through a queue)."""
        try:
            self.state.record_outcomes({key: {"outcome": outcome, **trace_fields(event), "endedAt": self.clock()}
                                        for key, (outcome, event) in ended.items()})  # fmt: skip
        except Exception as exc:  # only the trace misses it
            log.warning("could not record how retried events ended (%s)", type(exc).__name__)
