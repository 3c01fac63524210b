"""Deleting users on fakes: parsing with JSON paths, one Braze call per 50 identifiers of one kind, exactly once per
identifier, behind the user's queued updates, through the retry queue when Braze throttles, audited by digest."""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any

import pytest

from rudder_braze.braze.client import BrazeResponse
from rudder_braze.braze.requests import DELETE, BrazeRequest
from rudder_braze.config import load_settings
from rudder_braze.delivery.packing import pack
from rudder_braze.errors import InputError
from rudder_braze.rudderstack.identity import user_of
from rudder_braze.usecases.deletion import DeletionService, UserIdentifier, parse_deletions
from rudder_braze.usecases.ingest import IngestService
from rudder_braze.usecases.sending import BrazePorts
from tests.fakes.events import OK, THROTTLED
from tests.fakes.stores import MemoryFingerprints, MemoryIdempotency, MemoryQueue, MemoryState


@pytest.mark.parametrize(
    ("document", "path"),
    [
        ([], "$"),
        ({}, "$"),
        ({"userIds": "u-1"}, "$.userIds"),
        ({"userIds": ["u-1", ""]}, "$.userIds[1]"),
        ({"userIds": ["u-1", 7]}, "$.userIds[1]"),
        ({"userIds": ["x" * 1025]}, "$.userIds[0]"),
        ({"aliases": [{"alias_name": "a"}]}, "$.aliases[0].alias_label"),
        ({"aliases": ["a"]}, "$.aliases[0]"),
        ({"userIds": [], "aliases": []}, "$"),
        ({"userIds": [f"u-{n}" for n in range(1001)]}, "$"),
    ],
)
def test_a_bad_body_is_refused_with_the_place_of_its_first_fault(document: Any, path: str) -> None:
    with pytest.raises(InputError) as refused:
        parse_deletions(document)
    assert refused.value.path == path and str(refused.value).startswith(path)


def test_identifiers_keep_their_kind_and_the_key_is_a_digest_never_the_identifier() -> None:
    ids = parse_deletions({"userIds": ["jane@example.com"], "aliases": [{"alias_name": "an-1", "alias_label": "x"}]})
    assert [i.braze_body for i in ids] == [
        {"external_ids": ["jane@example.com"]},
        {"user_aliases": [{"alias_name": "an-1", "alias_label": "x"}]},
    ]
    assert all("jane" not in i.key and "an-1" not in i.key for i in ids)
    assert ids[0].digest == hashlib.sha256(b'{"external_ids":["jane@example.com"]}').hexdigest()


def test_a_deletion_is_ordered_with_the_users_events() -> None:
    assert UserIdentifier(external_id="u-1").user == user_of({"userId": "u-1"}, "m")
    assert UserIdentifier(alias=("anon-1", "rudder_id")).user == user_of({"anonymousId": "anon-1"}, "m")


def test_deletions_are_packed_fifty_to_a_request_one_kind_per_request() -> None:
    ids = [UserIdentifier(external_id=f"u-{n}") for n in range(120)] + [UserIdentifier(alias=("a", "l"))]
    packed = pack([(i.key, [BrazeRequest(DELETE, i.braze_body)]) for i in ids], load_settings({}).track_batch_rule)
    assert [(r.path, list(r.body), len(next(iter(r.body.values())))) for r in packed] == [
        (DELETE, ["external_ids"], 50),
        (DELETE, ["external_ids"], 50),
        (DELETE, ["external_ids"], 20),
        (DELETE, ["user_aliases"], 1),
    ]
    assert packed[2].message_ids == [i.key for i in ids[100:120]]


class Braze:
    def __init__(self, answer: BrazeResponse = OK) -> None:
        self.answer = answer
        self.deleted: list[str] = []

    def send(self, request: BrazeRequest) -> BrazeResponse:
        if self.answer.status is not None and self.answer.status < 300:
            self.deleted += request.body.get("external_ids", [])
        return self.answer


def service(braze: Braze, state: MemoryState | None = None) -> tuple[DeletionService, MemoryQueue, MemoryFingerprints]:
    queue, fingerprints = MemoryQueue(), MemoryFingerprints()
    ports = BrazePorts(braze.send, queue, state or MemoryState())
    ingest = IngestService(load_settings({}), ports, MemoryIdempotency())
    return DeletionService(ingest, fingerprints), queue, fingerprints


def test_each_identifier_is_deleted_once_and_a_repeated_call_says_already_deleted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    braze = Braze()
    deletions, _, fingerprints = service(braze)
    fingerprints.items["ext:u-1"] = {"email": "old"}
    ids = parse_deletions({"userIds": ["u-1", "u-2", "u-1"]})
    with caplog.at_level(logging.INFO, logger="rudder_braze"):
        first = deletions.handle(ids, lambda: 8000)
    assert [first.outcome(i) for i in first.identifiers] == ["deleted", "deleted"]
    assert braze.deleted == ["u-1", "u-2"]
    assert fingerprints.items["ext:u-1"] == {}  # supportDedup forgets the deleted user's values
    audit = [r for r in caplog.records if r.getMessage() == "user deletion"]
    assert [getattr(r, "identifierDigest", None) for r in audit] == [i.digest for i in first.identifiers]
    assert "u-1" not in caplog.text and "u-2" not in caplog.text
    again = deletions.handle(ids, lambda: 8000)
    assert [again.outcome(i) for i in again.identifiers] == ["already_deleted", "already_deleted"]
    assert braze.deleted == ["u-1", "u-2"]


def test_a_throttled_deletion_waits_in_the_retry_queue_and_so_does_one_behind_queued_updates() -> None:
    deletions, queue, _ = service(Braze(THROTTLED))
    (throttled,) = parse_deletions({"userIds": ["u-1"]})
    assert deletions.handle([throttled], lambda: 8000).outcome(throttled) == "queued"
    assert [(e.key, e.user, e.requests[0].body) for e in queue.queued] == [
        (throttled.key, "u:u-1", {"external_ids": ["u-1"]})
    ]
    state = MemoryState()
    state.pending["u:u-2"] = 1  # an update of u-2 waits in the retry queue: the deletion must follow it, not pass it
    braze = Braze()
    deletions, queue, _ = service(braze, state)
    (behind,) = parse_deletions({"userIds": ["u-2"]})
    assert deletions.handle([behind], lambda: 8000).outcome(behind) == "queued"
    assert braze.deleted == [] and [e.key for e in queue.queued] == [behind.key]


def test_braze_not_knowing_the_user_counts_as_deleted() -> None:
    braze = Braze(BrazeResponse(404, {"message": "not found"}))
    deletions, queue, _ = service(braze)
    (gone,) = parse_deletions({"userIds": ["u-9"]})
    assert deletions.handle([gone], lambda: 8000).outcome(gone) == "deleted"
    assert queue.queued == [] and queue.dead == []


@pytest.mark.parametrize(
    ("data_center", "host"),
    [("EU-02", "https://rest.fra-02.braze.eu"), ("AU-01", "https://rest.au-01.braze.com"),
     ("US-03", "https://rest.iad-03.braze.com")],
)  # fmt: skip
def test_deletions_go_to_the_workspaces_own_cluster(data_center: str, host: str) -> None:
    from rudder_braze.adapters.aws import AwsClients
    from rudder_braze.app.container import Container
    from rudder_braze.app.settings import AppSettings
    from tests.unit.app.test_settings import REQUIRED

    environ = {**REQUIRED, "BRAZE_CONFIG": json.dumps({"dataCenter": data_center})}
    container = Container(AppSettings.from_environ(environ), AwsClients(options={"region_name": "eu-central-1"}))
    assert container.deletion_service.ingest.send == container.braze.send
    assert container.braze.endpoint == host
