"""moto's server, with two changes to its SQS: one keeps it as fast as SQS is, one as strict as SQS FIFO is.

moto works out every message's visibility from a datetime (several objects per message) each time a queue is
read or written, so one SendMessageBatch to a queue holding 1,000 messages took about 360 ms, growing with the
queue: a local stack slower than AWS by two orders of magnitude there, which would make deadlines fail locally
that hold deployed. The clock it reads is the same one (the epoch in milliseconds), read directly.

A FIFO queue returns no message of a group while another message of that group is in flight; moto checks that
against the groups in flight when a long poll *starts*, so a poll that began before another consumer received a
group's first message could then return the group's next one, passing it (a user's deletion delivered before the
update queued ahead of it). A long poll here is a series of short receives, each checking the groups as they are.
"""

from __future__ import annotations

import time
from typing import Any

from moto.server import main
from moto.sqs import models

_slow_unix_time_millis = models.unix_time_millis  # type: ignore[attr-defined]


def _unix_time_millis(dt: Any = None) -> float:
    return time.time() * 1000.0 if dt is None else _slow_unix_time_millis(dt)


_receive_once = models.SQSBackend.receive_message
_POLL_SECONDS = 0.05


def _receive_message(
    backend: models.SQSBackend, queue_name: str, count: int, wait_seconds_timeout: int, *rest: Any
) -> list[models.Message]:
    """moto's ``receive_message`` (called with its arguments in order: the rest are the visibility timeout and the
    attribute names), long polls made of short receives."""
    deadline = time.monotonic() + wait_seconds_timeout
    while True:
        received = _receive_once(backend, queue_name, count, 0, *rest)
        if received or time.monotonic() >= deadline:
            return received
        time.sleep(_POLL_SECONDS)


if __name__ == "__main__":
    models.unix_time_millis = _unix_time_millis  # type: ignore[attr-defined]
    setattr(models.SQSBackend, "receive_message", _receive_message)  # noqa: B010 - replaces moto's own
    main()
