"""``rudder-braze replay``: post historical RudderStack events to a bridge's ``/v1/batch``, at a steady rate.

Events keep their messageIds, so the bridge's dedup makes a replay idempotent: a batch sent again after a crash,
or a whole file replayed twice, adds nothing in Braze. The checkpoint records, per source, how many lines the
bridge has answered for; a resumed replay starts after them. 429 and 503 (and any 5xx or lost connection) are
retried with backoff (``Retry-After`` when given); 413 halves the batch; 401, 403 and 415 stop the replay.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rudder_braze.limits import MAX_BODY_BYTES
from rudder_braze.operations.sources import Line, Source, read_lines

DEFAULT_RATE = 500.0  # events/s: about 7 Braze requests/s in buffered mode (75 events each), 1% of a workspace's
DEFAULT_BATCH = 100
BODY_BYTES = MAX_BODY_BYTES * 3 // 4  # a batch is cut below the webhook's body limit
MAX_WAIT_SECONDS = 30.0
GIVE_UP_SECONDS = 900.0  # one batch refused (429/5xx) for this long: stop, the checkpoint keeps the place


class ReplayStopped(RuntimeError):
    """The bridge refused the replay for a reason more sending cannot fix (token, source address, media type)."""


@dataclass(frozen=True)
class Answer:
    status: int | None  # None: no answer (connection refused, reset, timed out)
    body: Any
    retry_after: float | None = None


@dataclass
class Tally:
    sent: int = 0
    accepted: int = 0
    rejected: int = 0
    duplicates: int = 0
    started: float = field(default_factory=time.monotonic)

    def summary(self) -> dict[str, Any]:
        return {"sent": self.sent, "accepted": self.accepted, "rejected": self.rejected,
                "duplicates": self.duplicates, "seconds": round(time.monotonic() - self.started, 3)}  # fmt: skip


class Checkpoint:
    """Per source, the lines the bridge has answered for. Written atomically after every batch."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.done: dict[str, int] = {}
        if path is not None and path.exists():
            self.done = {str(k): int(v) for k, v in json.loads(path.read_text(encoding="utf-8"))["done"].items()}

    def advance(self, source: str, line: int) -> None:
        self.done[source] = max(self.done.get(source, 0), line)
        if self.path is not None:
            partial = self.path.with_name(self.path.name + ".partial")
            partial.write_text(json.dumps({"version": 1, "done": self.done}), encoding="utf-8")
            partial.replace(self.path)


@dataclass(frozen=True)
class Pace:
    rate: float = DEFAULT_RATE  # events per second
    batch: int = DEFAULT_BATCH
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep


class Replay:
    def __init__(self, post: Callable[[list[Any]], Answer], pace: Pace, checkpoint: Checkpoint) -> None:
        self.post, self.pace, self.checkpoint = post, pace, checkpoint
        self.tally = Tally(started=pace.clock())
        self._next_send = pace.clock()

    def run(self, sources: list[Source], progress: Callable[[int], object]) -> Tally:
        for source in sources:
            for batch in self._batches(read_lines(source, progress, self.checkpoint.done.get(source.name, 0))):
                self._send(source.name, batch)
        return self.tally

    def _batches(self, lines: Iterator[Line]) -> Iterator[list[Line]]:
        batch: list[Line] = []
        size = 0
        for line in lines:
            if line.error is not None:
                self.tally.rejected += 1
                print(f"line {line.number}: {line.error}", file=sys.stderr)  # the source is named by the caller
                continue
            line_bytes = len(json.dumps(line.event, separators=(",", ":")).encode())
            if batch and (len(batch) >= self.pace.batch or size + line_bytes > BODY_BYTES):
                yield batch
                batch, size = [], 0
            batch.append(line)
            size += line_bytes
        if batch:
            yield batch

    def _wait_for_rate(self, events: int) -> None:
        now = self.pace.clock()
        if self._next_send > now:
            self.pace.sleep(self._next_send - now)
        self._next_send = max(now, self._next_send) + events / self.pace.rate

    def _send(self, source: str, batch: list[Line]) -> None:
        """Send until the bridge has answered for every event of the batch (halved on 413), then checkpoint."""
        self._wait_for_rate(len(batch))
        first_try, tries = self.pace.clock(), 0
        while True:
            answer = self.post([line.event for line in batch])
            if answer.status == 413 and len(batch) > 1:
                half = len(batch) // 2
                self._send(source, batch[:half])
                self._send(source, batch[half:])
                return
            if answer.status in (401, 403, 415):
                raise ReplayStopped(f"the bridge answered {answer.status}: {_message(answer.body)}")
            if answer.status is not None and (answer.status < 500 and answer.status != 429):
                break
            tries += 1
            if self.pace.clock() - first_try > GIVE_UP_SECONDS:
                raise ReplayStopped(f"the bridge has refused one batch for {GIVE_UP_SECONDS:.0f} s "
                                    f"(last answer {answer.status}); run again to resume")  # fmt: skip
            wait = answer.retry_after if answer.retry_after is not None else min(MAX_WAIT_SECONDS, 2.0 ** (tries - 1))
            self.pace.sleep(wait)
        self._count(source, batch, answer)
        self.checkpoint.advance(source, batch[-1].number)

    def _count(self, source: str, batch: list[Line], answer: Answer) -> None:
        self.tally.sent += len(batch)
        body = answer.body if isinstance(answer.body, dict) else {}
        if answer.status not in {200, 202} and "rejected" not in body:  # the body refused as a whole
            self.tally.rejected += len(batch)
            print(f"{source} lines {batch[0].number}-{batch[-1].number}: {answer.status} {_message(body)}",
                  file=sys.stderr)  # fmt: skip
            return
        rejected = body.get("rejected") or []
        duplicates = int(body.get("duplicates", 0))
        self.tally.rejected += len(rejected)
        self.tally.duplicates += duplicates
        self.tally.accepted += sum(int(body.get(k, 0)) for k in ("delivered", "queued", "filtered", "dead_lettered"))
        for entry in rejected:
            index = entry.get("index")
            where = batch[index].number if isinstance(index, int) and 0 <= index < len(batch) else "?"
            print(f"{source} line {where}: {entry.get('path')}: {entry.get('reason')}", file=sys.stderr)


def _message(body: Any) -> str:
    return str(body.get("message") or body) if isinstance(body, dict) else str(body)
