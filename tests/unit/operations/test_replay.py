"""Replay on a fake bridge: pacing, backoff on 429/503 and lost connections, 413 halves the batch, a refused token
stops it, the checkpoint resumes after the last answered line; sources read plain, gzipped and foldered files."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest

from rudder_braze.operations.replay import Answer, Checkpoint, Pace, Replay, ReplayStopped
from rudder_braze.operations.sources import find_sources, read_lines


class Clock:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(round(seconds, 3))
        self.now += seconds


def write_events(path: Path, count: int, start: int = 0, *, gz: bool = False) -> Path:
    lines = "".join(json.dumps({"type": "track", "event": "E", "userId": "u", "messageId": f"m-{n}"}) + "\n"
                    for n in range(start, start + count))  # fmt: skip
    if gz:
        path.write_bytes(gzip.compress(lines.encode()))
    else:
        path.write_text(lines)
    return path


class Bridge:
    """Answers like the webhook: every event accepted once, later copies duplicates; scripted answers first."""

    def __init__(self, *scripted: Answer) -> None:
        self.scripted = list(scripted)
        self.seen: list[str] = []
        self.bodies: list[int] = []

    def post(self, events: list[Any]) -> Answer:
        self.bodies.append(len(events))
        if self.scripted:
            return self.scripted.pop(0)
        fresh = [e["messageId"] for e in events if e["messageId"] not in self.seen]
        self.seen += fresh
        return Answer(200, {"delivered": len(fresh), "duplicates": len(events) - len(fresh), "rejected": []})


def replay(bridge: Bridge, clock: Clock, tmp_path: Path, *, batch: int = 100, rate: float = 1000.0) -> Replay:
    return Replay(bridge.post, Pace(rate, batch, clock, clock.sleep), Checkpoint(tmp_path / "checkpoint.json"))


def test_events_go_in_batches_at_the_rate_and_a_second_replay_is_all_duplicates(tmp_path: Path) -> None:
    sources = find_sources([str(write_events(tmp_path / "a.jsonl", 250))], s3=lambda: None)
    bridge, clock = Bridge(), Clock()
    tally = replay(bridge, clock, tmp_path, rate=100.0).run(sources, lambda _: None)
    assert (tally.sent, tally.accepted, tally.duplicates, bridge.bodies) == (250, 250, 0, [100, 100, 50])
    assert clock.slept == [1.0, 1.0]  # 100 events/s: each batch of 100 waits a second after the one before
    (tmp_path / "checkpoint.json").unlink()
    again = replay(bridge, Clock(), tmp_path).run(sources, lambda _: None)
    assert (again.sent, again.accepted, again.duplicates) == (250, 0, 250)


def test_throttling_and_outages_are_waited_out_then_the_same_batch_is_sent(tmp_path: Path) -> None:
    sources = find_sources([str(write_events(tmp_path / "a.jsonl", 10))], s3=lambda: None)
    bridge = Bridge(Answer(429, {"message": "slow down"}, retry_after=7), Answer(503, {}), Answer(None, {}))
    clock = Clock()
    tally = replay(bridge, clock, tmp_path).run(sources, lambda _: None)
    assert clock.slept == [7.0, 2.0, 4.0] and bridge.bodies == [10, 10, 10, 10]
    assert (tally.sent, tally.accepted) == (10, 10)


def test_a_body_too_large_is_halved_and_a_refused_token_stops_the_replay(tmp_path: Path) -> None:
    sources = find_sources([str(write_events(tmp_path / "a.jsonl", 8))], s3=lambda: None)
    bridge = Bridge(Answer(413, {"code": "payload_too_large"}))
    assert replay(bridge, Clock(), tmp_path).run(sources, lambda _: None).accepted == 8
    assert bridge.bodies == [8, 4, 4]
    with pytest.raises(ReplayStopped, match="401"):
        replay(Bridge(Answer(401, {"message": "unauthorized"})), Clock(), tmp_path / "x").run(sources, lambda _: None)


def test_a_crash_resumes_after_the_last_answered_batch(tmp_path: Path) -> None:
    sources = find_sources([str(write_events(tmp_path / "a.jsonl", 300))], s3=lambda: None)
    bridge = Bridge()
    answered = 0

    def crashing(events: list[Any]) -> Answer:
        nonlocal answered
        if answered == 2:
            raise KeyboardInterrupt  # Ctrl-C during the third batch
        answered += 1
        return bridge.post(events)

    with pytest.raises(KeyboardInterrupt):
        Replay(crashing, Pace(1000.0, 100, Clock(), Clock().sleep), Checkpoint(tmp_path / "cp.json")).run(
            sources, lambda _: None
        )
    resumed = Replay(bridge.post, Pace(1000.0, 100, Clock(), Clock().sleep), Checkpoint(tmp_path / "cp.json"))
    tally = resumed.run(sources, lambda _: None)
    assert (tally.sent, tally.accepted, tally.duplicates) == (100, 100, 0)
    assert sorted(bridge.seen, key=lambda m: int(m[2:])) == [f"m-{n}" for n in range(300)]


def test_unreadable_lines_and_refused_events_are_counted_rejected(tmp_path: Path) -> None:
    path = write_events(tmp_path / "a.jsonl", 2)
    path.write_text(path.read_text() + "{not json\n[1]\n\n")
    answer = Answer(400, {"delivered": 1, "rejected": [{"index": 1, "path": "$.event", "reason": "missing"}]})
    tally = replay(Bridge(answer), Clock(), tmp_path).run(find_sources([str(path)], lambda: None), lambda _: None)
    assert (tally.sent, tally.accepted, tally.rejected) == (2, 1, 3)


def test_sources_are_files_gzipped_files_and_folders_in_name_order(tmp_path: Path) -> None:
    folder = tmp_path / "logs"
    (folder / "2026" / "01").mkdir(parents=True)
    write_events(folder / "2026" / "01" / "b.json.gz", 3, 10, gz=True)
    write_events(folder / "2026" / "01" / "a.json", 2)
    (folder / "README.txt").write_text("not events")
    sources = find_sources([str(folder)], s3=lambda: None)
    assert [Path(s.name).name for s in sources] == ["a.json", "b.json.gz"]
    read: list[int] = []
    events = [line.event["messageId"] for s in sources for line in read_lines(s, read.append)]
    assert events == ["m-0", "m-1", "m-10", "m-11", "m-12"]
    assert sum(read) == sum(s.size for s in sources)  # the progress bar ends at its total
