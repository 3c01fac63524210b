"""The operator commands as an operator runs them (``rudder-braze …``, found through ``PORT`` and the description
``make local`` writes) against the local stack: trace through every state, replay a thousand events once (and a
second time, nothing), from files and RudderStack's S3 layout on moto, and delete users."""

from __future__ import annotations

import gzip
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from local.stack import COMPRESSED_RETRY_TIMING, LocalStack
from rudder_braze.adapters.aws.idempotency import IdempotencyTable
from rudder_braze.app.cli import main
from rudder_braze.operations.bridge import local_description_path
from tests.conftest import StartStack
from tests.integration.conftest import QUIET

Run = Callable[..., tuple[int, list[dict[str, Any]]]]


@pytest.fixture
def started(start_stack: StartStack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., LocalStack]:
    """A local stack, described where the commands look for the one on $PORT (as make local does)."""
    monkeypatch.chdir(tmp_path)

    def start(**options: Any) -> LocalStack:
        stack = start_stack(env_overrides={**QUIET, **COMPRESSED_RETRY_TIMING}, **options)
        port = int(stack.api.url.rsplit(":", 1)[1])
        monkeypatch.setenv("PORT", str(port))
        monkeypatch.delenv("WEBHOOK_TOKEN", raising=False)
        path = local_description_path(port)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(stack.description()))
        return stack

    return start


def run(*argv: str) -> tuple[int, list[dict[str, Any]]]:
    out = io.StringIO()
    status = main(list(argv), out)
    return status, [json.loads(line) for line in out.getvalue().splitlines()]


def trace(*ids: str) -> dict[str, dict[str, Any]]:
    status, lines = run("trace", *ids)
    assert status == 0
    return {line["messageId"]: line for line in lines}


def track(n: int, event: str = "Played", user: str | None = None) -> dict[str, Any]:
    return {"type": "track", "userId": user or f"u-{n % 37}", "event": event, "messageId": f"m-{n}",
            "timestamp": "2026-12-04T10:00:00Z", "properties": {"n": n}}  # fmt: skip


def test_trace_follows_events_through_every_state_in_direct_mode(started: Callable[..., LocalStack]) -> None:
    stack = started()
    assert stack.post("/v1/webhook", track(1))[0] == 200
    stack.simulator.set_faults({"reject_permanently": ["Doomed"]})
    assert stack.post("/v1/webhook", track(2, "Doomed"))[1]["dead_lettered"] == 1
    stack.simulator.set_faults({"reject_permanently": [], "throttle_rate": 1.0})
    assert stack.post("/v1/webhook", track(3))[0] == 202
    table = stack.template.physical["StateTable"]["Ref"]
    IdempotencyTable(table, 60, stack.aws.clients()).claim("m-4", 30_000)  # an invocation handling m-4 right now

    lines = trace("m-1", "m-2", "m-3", "m-4", "m-5")
    outcomes = {mid: line["outcome"] for mid, line in lines.items()}
    assert outcomes == {"m-1": "delivered", "m-2": "dead_lettered", "m-3": "queued", "m-4": "in_progress",
                        "m-5": "unknown"}  # fmt: skip
    assert lines["m-1"]["where"] == {"braze": ["/users/track"]} and lines["m-1"]["receivedAt"].startswith("20")
    assert "400" in lines["m-2"]["lastError"] and lines["m-2"]["where"].startswith("dead-letter queue")
    assert lines["m-3"]["where"]["queue"] == "retry" and "429" in lines["m-3"]["lastError"]
    assert "Played" not in json.dumps(lines) and "u-1" not in json.dumps(lines)  # no payload values

    stack.simulator.set_faults({"throttle_rate": 0.0})
    assert stack.wait_until_drained(timeout=60)
    after = trace("m-3")["m-3"]
    assert (after["outcome"], after["where"]) == ("delivered", {"braze": ["/users/track"]})
    assert after["attempts"] >= 1 and "429" in after["lastError"]  # what it went through on the way


def test_trace_in_buffered_mode_finds_events_in_the_delivery_queue_then_delivered(
    started: Callable[..., LocalStack],
) -> None:
    stack = started(parameters={"DeliveryMode": "buffered"}, poll=False)
    assert stack.post("/v1/batch", {"batch": [track(1), track(2)]})[0] == 200
    assert trace("m-1")["m-1"]["where"] == {"queue": "delivery"}
    for source in stack.event_sources:
        source.start()
    assert stack.wait_until_drained(timeout=60)
    assert [line["outcome"] for line in trace("m-1", "m-2").values()] == ["delivered", "delivered"]


def stored_numbers(stack: LocalStack) -> list[int]:
    with stack.simulator.lock:
        return [s.obj["properties"]["n"] for s in stack.simulator.stored if s.kind == "events"]


def test_replay_delivers_a_thousand_events_once_and_a_second_replay_adds_nothing(
    started: Callable[..., LocalStack], tmp_path: Path
) -> None:
    stack = started()
    events = tmp_path / "events.jsonl"
    events.write_text("".join(json.dumps(track(n)) + "\n" for n in range(1000)))
    status, (summary,) = run("replay", "--rate", "5000", "--checkpoint", str(tmp_path / "cp.json"), str(events))
    assert status == 0 and summary["sent"] == 1000 and summary["accepted"] == 1000 and summary["rejected"] == 0
    assert sorted(stored_numbers(stack)) == list(range(1000))
    status, (again,) = run("replay", "--rate", "5000", str(events))
    assert (again["accepted"], again["duplicates"]) == (0, 1000)
    assert len(stored_numbers(stack)) == 1000


def test_replay_reads_rudderstacks_s3_layout(started: Callable[..., LocalStack]) -> None:
    stack = started()
    s3 = stack.aws.client("s3")
    s3.create_bucket(Bucket="rudder-archive")
    for part in range(3):  # gzipped JSON lines, as RudderStack's S3 destination writes them
        lines = "".join(json.dumps(track(n)) + "\n" for n in range(part * 40, part * 40 + 40))
        key = f"rudder-logs/src-1/2026-12-01/1764547200.src-1.{part}.json.gz"
        s3.put_object(Bucket="rudder-archive", Key=key, Body=gzip.compress(lines.encode()))
    s3.put_object(Bucket="rudder-archive", Key="rudder-logs/other/notes.txt", Body=b"not events")
    status, (summary,) = run("replay", "--rate", "5000", "s3://rudder-archive/rudder-logs/")
    assert (status, summary["sent"], summary["accepted"]) == (0, 120, 120)
    assert sorted(stored_numbers(stack)) == list(range(120))


def test_delete_users_deletes_once_and_reports_the_repeat(started: Callable[..., LocalStack]) -> None:
    stack = started()
    assert stack.post("/v1/batch", {"batch": [track(1, user="jane"), track(2, user="joe")]})[0] == 200
    status, (answer,) = run("delete-users", "jane", "--alias", "rudder_id:anon-1")
    assert status == 0 and (answer["status"], answer["deleted"]) == (200, 2)
    assert stored_numbers(stack) == [2]  # joe's event stays
    status, (again,) = run("delete-users", "jane")
    assert status == 0 and again["already_deleted"] == 1
    assert run("delete-users")[0] == 1  # nobody named: the bridge's 400 says where


def test_an_environment_is_found_by_its_stacks_outputs_and_its_token_in_ssm(
    started: Callable[..., LocalStack], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--env`` as against AWS, with boto3 pointed at moto (AWS_ENDPOINT_URL): the stack rudder-braze-<env>'s
    outputs name the webhook and the table, SSM holds the token."""
    stack = started()
    outputs = {**stack.description()["outputs"], "WebhookUrl": stack.webhook_url}
    template = {"Resources": {"Handle": {"Type": "AWS::CloudFormation::WaitConditionHandle"}},
                "Outputs": {name: {"Value": value} for name, value in outputs.items()}}  # fmt: skip
    stack.aws.client("cloudformation").create_stack(StackName="rudder-braze-qa", TemplateBody=json.dumps(template))
    stack.aws.client("ssm").put_parameter(
        Name="/rudder-braze/qa/webhook-token", Value=stack.token, Type="SecureString", Overwrite=True
    )
    for name, value in {"AWS_ENDPOINT_URL": stack.aws.endpoint, "AWS_DEFAULT_REGION": "us-east-1",
                        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("PORT", "1")  # no local stack there: only the environment can answer
    status, (answer,) = run("delete-users", "--env", "qa", "u-1")
    assert (status, answer["status"], answer["deleted"]) == (0, 200, 1)
    assert trace_env("qa", answer["results"][0]) == "delivered"


def trace_env(env: str, result: dict[str, Any]) -> str:
    from rudder_braze.usecases.deletion import UserIdentifier

    key = UserIdentifier(external_id=result["userId"]).key
    status, (line,) = run("trace", "--env", env, key)
    assert status == 0
    return str(line["outcome"])
