"""``POST /v1/deletions`` over loopback HTTP through the local stack: users leave the Braze simulator, once each,
after their queued updates, through the retry queue when Braze throttles, in both delivery modes."""

from __future__ import annotations

from typing import Any

import pytest

from local.stack import COMPRESSED_RETRY_TIMING, LocalStack
from tests.conftest import StartStack
from tests.integration.conftest import QUIET


def track(user: str, n: int) -> dict[str, Any]:
    return {"type": "track", "userId": user, "event": "Played", "messageId": f"{user}-{n}",
            "timestamp": "2026-12-04T10:00:00Z", "properties": {"n": n}}  # fmt: skip


def objects_of(stack: LocalStack, user: str) -> list[str]:
    with stack.simulator.lock:
        return [s.kind for s in stack.simulator.stored if s.kind != "deletions" and s.obj.get("external_id") == user]


def deletion_records(stack: LocalStack) -> list[dict[str, Any]]:
    with stack.simulator.lock:
        return [s.obj for s in stack.simulator.stored if s.kind == "deletions"]


def delete_calls(stack: LocalStack) -> list[dict[str, Any]]:
    with stack.simulator.lock:
        return [r for r in stack.simulator.requests if r["path"] == "/users/delete"]


@pytest.mark.parametrize(("mode", "api"), [("direct", "http"), ("buffered", "rest")])
def test_deleted_users_leave_braze_once_and_a_repeated_call_reports_them_already_deleted(
    start_stack: StartStack, mode: str, api: str
) -> None:
    stack = start_stack(env_overrides={**QUIET, **COMPRESSED_RETRY_TIMING},
                        parameters={"DeliveryMode": mode, "ApiType": api})  # fmt: skip
    assert stack.post("/v1/batch", {"batch": [track("u-1", 1), track("u-2", 1)]})[0] == 200
    assert stack.wait_until_drained(timeout=60)
    assert objects_of(stack, "u-1") == ["events"] and objects_of(stack, "u-2") == ["events"]

    body = {"userIds": ["u-1"], "aliases": [{"alias_name": "anon-7", "alias_label": "rudder_id"}]}
    status, answer = stack.post("/v1/deletions", body)
    assert status == (200 if mode == "direct" else 202), answer
    assert stack.wait_until_drained(timeout=60)
    assert objects_of(stack, "u-1") == [] and objects_of(stack, "u-2") == ["events"]
    records = deletion_records(stack)  # two users: no order between them
    assert sorted(records, key=str) == [
        {"external_id": "u-1"},
        {"user_alias": {"alias_name": "anon-7", "alias_label": "rudder_id"}},
    ]
    status, again = stack.post("/v1/deletions", body)
    assert status == 200 and again["already_deleted"] == 2 and again["deleted"] == 0
    assert [r["outcome"] for r in again["results"]] == ["already_deleted", "already_deleted"]
    assert len(delete_calls(stack)) == 2  # one per identifier kind, the first time only


def test_a_throttled_deletion_is_queued_and_follows_the_users_queued_update(start_stack: StartStack) -> None:
    stack = start_stack(env_overrides={**QUIET, **COMPRESSED_RETRY_TIMING})
    stack.simulator.set_faults({"throttle_rate": 1.0})
    status, answer = stack.post("/v1/webhook", track("u-3", 1))
    assert (status, answer["queued"]) == (202, 1)
    status, answer = stack.post("/v1/deletions", {"userIds": ["u-3"]})
    assert (status, answer["queued"], answer["results"]) == (202, 1, [{"userId": "u-3", "outcome": "queued"}])
    stack.simulator.set_faults({"throttle_rate": 0.0})
    assert stack.wait_until_drained(timeout=90)
    with stack.simulator.lock:
        taken = [r["path"] for r in stack.simulator.requests if r["status"] in (201, 202)]
    assert taken == ["/users/track", "/users/delete"]  # the update first, then the deletion: nothing of u-3 is left
    assert objects_of(stack, "u-3") == [] and deletion_records(stack) == [{"external_id": "u-3"}]
    assert stack.post("/v1/deletions", {"userIds": ["u-3"]})[1]["already_deleted"] == 1
