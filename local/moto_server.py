"""moto's server, with three changes: one keeps its SQS as fast as SQS is, two keep SQS and DynamoDB as strict.

moto works out every message's visibility from a datetime (several objects per message) each time a queue is
read or written, so one SendMessageBatch to a queue holding 1,000 messages took about 360 ms, growing with the
queue: a local stack slower than AWS by two orders of magnitude there, which would make deadlines fail locally
that hold deployed. The clock it reads is the same one (the epoch in milliseconds), read directly.

A FIFO queue returns no message of a group while another message of that group is in flight; moto checks that
against the groups in flight when a long poll *starts*, so a poll that began before another consumer received a
group's first message could then return the group's next one, passing it (a user's deletion delivered before the
update queued ahead of it). A long poll here is a series of short receives, each checking the groups as they are.

Each call to SQS or DynamoDB is atomic; moto's server answers calls on many threads, and its backends share their
queues and tables without a lock, so calls at once interleave: a delete writes back a queue's message list
without what another call changed meanwhile, a receive and a visibility change race on the set of messages in
flight. Consumers receiving, deleting and hiding messages at once then left messages in flight that had been
deleted or made visible again, until their visibility timeout (tests/integration/test_local_stack.py): a FIFO
group held up for minutes with nothing failing, as the buffered e2e storm sometimes found. moto's DynamoDB checks
a conditional write's condition and then writes, with nothing between to keep another write out. Here each call
to either service runs alone (a long poll waits outside, between its receives).
"""

from __future__ import annotations

import functools
import inspect
import threading
import time
from collections.abc import Callable
from typing import Any

from moto.dynamodb.models import DynamoDBBackend
from moto.server import main
from moto.sqs import models

_slow_unix_time_millis = models.unix_time_millis  # type: ignore[attr-defined]


def _unix_time_millis(dt: Any = None) -> float:
    return time.time() * 1000.0 if dt is None else _slow_unix_time_millis(dt)


_receive_once = models.SQSBackend.receive_message
_POLL_SECONDS = 0.05
_SQS_CALLS = threading.RLock()  # re-entrant: a backend call may make another (a batch send its sends)


def _receive_message(
    backend: models.SQSBackend, queue_name: str, count: int, wait_seconds_timeout: int, *rest: Any
) -> list[models.Message]:
    """moto's ``receive_message`` (called with its arguments in order: the rest are the visibility timeout and the
    attribute names), long polls made of short receives."""
    deadline = time.monotonic() + wait_seconds_timeout
    while True:
        with _SQS_CALLS:
            received = _receive_once(backend, queue_name, count, 0, *rest)
        if received or time.monotonic() >= deadline:
            return received
        time.sleep(_POLL_SECONDS)


def _alone(lock: threading.RLock, call: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(call)
    def holding(*args: Any, **kwargs: Any) -> Any:
        with lock:
            return call(*args, **kwargs)

    return holding


def one_call_at_a_time(backend: type, lock: threading.RLock, but: tuple[str, ...] = ()) -> None:
    """Make each of ``backend``'s calls (its public methods, except ``but``) hold ``lock`` while it runs."""
    for name, method in list(vars(backend).items()):
        if not name.startswith("_") and name not in but and inspect.isfunction(method):
            setattr(backend, name, _alone(lock, method))


if __name__ == "__main__":
    models.unix_time_millis = _unix_time_millis  # type: ignore[attr-defined]
    one_call_at_a_time(models.SQSBackend, _SQS_CALLS, but=("receive_message",))
    setattr(models.SQSBackend, "receive_message", _receive_message)  # noqa: B010 - replaces moto's own
    one_call_at_a_time(DynamoDBBackend, threading.RLock())
    main()
