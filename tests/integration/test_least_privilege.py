"""Least privilege, measured: each function's AWS calls on the local stack, attributed to the role that signs them
(its event source's polling included, as on Lambda), are granted by that role in the template, on the resources
they name; and every grant is used by some call, but for the few listed with the reason the local stack cannot
make them. Each mode runs what makes every kind of call: deliveries, throttling and retries, permanent refusals,
supportDedup fingerprints, an unreachable SQS, deletions."""

from __future__ import annotations

import time
from fnmatch import fnmatch
from typing import Any

import pytest

from local.aws_calls import install
from local.stack import COMPRESSED_RETRY_TIMING, LocalStack
from tests.conftest import StartStack
from tests.integration.conftest import QUIET

# The operation IAM authorizes each SQS batch call as.
AUTHORIZED_AS = {"SendMessageBatch": "SendMessage", "DeleteMessageBatch": "DeleteMessage",
                 "ChangeMessageVisibilityBatch": "ChangeMessageVisibility"}  # fmt: skip
# Granted, and not called on the local stack, with why.
UNUSED_HERE = {
    # Powertools reads the record only when DynamoDB does not return the old item with a failed conditional write.
    ("IngestRole", "dynamodb:GetItem"),
}


def granted(stack: LocalStack, role: str) -> list[tuple[set[str], list[str]]]:
    """The role's statements as (actions, resource ARN patterns), for the AWS services the functions call."""
    statements = stack.template.resources[role]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    grants = []
    for raw in statements:
        statement = raw
        if "Fn::If" in raw:
            condition, when_true, when_false = raw["Fn::If"]
            statement = when_true if stack.template.condition(condition) else when_false
        if statement == {"Ref": "AWS::NoValue"}:
            continue
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        if not any(action.split(":")[0] in ("dynamodb", "sqs", "ssm") for action in actions):
            continue  # logs and X-Ray: Lambda's runtime writes them, not the function's code
        resources = stack.template.resolve(statement["Resource"])
        grants.append((set(actions), resources if isinstance(resources, list) else [resources]))
    return grants


def arn(stack: LocalStack, service: str, resource: str) -> str:
    if service == "ssm":
        return f"arn:aws:ssm:us-east-1:{stack.template.account}:parameter{resource}"
    by_name = {physical["Ref"]: physical.get("Arn") for physical in stack.template.physical.values()}
    return str(by_name[resource])


def _progress_saved(stack: LocalStack, timeout: float) -> bool:
    dynamodb, table = stack.aws.client("dynamodb"), stack.template.physical["StateTable"]["Ref"]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        items = dynamodb.scan(TableName=table, ProjectionExpression="id")["Items"]
        if any(item["id"]["S"].startswith("progress#") for item in items):
            return True
        time.sleep(0.2)
    return False


def exercise(stack: LocalStack) -> None:
    """Every path that calls AWS: delivered, throttled then retried, refused for good, an unreachable SQS (the
    claims released), deletions; supportDedup is on."""

    def track(n: int, event: str = "Played", user: str | None = None) -> dict[str, Any]:
        return {"type": "track", "userId": user or f"u-{n % 3}", "event": event, "messageId": f"m-{n}",
                "timestamp": "2026-12-04T10:00:00Z", "context": {"traits": {"plan": f"p{n}"}}}  # fmt: skip

    identify = {"type": "identify", "userId": "u-1", "messageId": "m-id", "traits": {"plan": "pro"}}
    assert stack.post("/v1/batch", {"batch": [identify, track(1), track(2)]})[0] == 200
    stack.simulator.set_faults({"throttle_rate": 1.0})
    stack.proxies["sqs"].cut()  # while the queues are empty: a retry under way would wait out its visibility
    # accepted, then neither sent nor queued: released (an SDK route: its events are claimed whatever the senders)
    assert stack.post("/v1/batch", {"batch": [track(5)]})[0] == 503
    stack.proxies["sqs"].restore()
    assert stack.post("/v1/batch", {"batch": [track(3), track(4, "Doomed")]})[0] == 200  # the retry refused later
    assert stack.post("/v1/deletions", {"userIds": ["u-9"]})[0] == 202
    # Throttled until the retry function has tried a queued event and failed (it saves the event's progress and
    # backs the message off), so that its later success clears that progress.
    assert _progress_saved(stack, timeout=60)
    stack.simulator.set_faults({"throttle_rate": 0.0, "reject_permanently": ["Doomed"]})
    assert stack.post("/v1/webhook", track(6, "Doomed", user="u-new"))[0] in (200, 202)  # 202: buffered
    assert stack.post("/v1/webhook", track(7))[0] in (200, 202)
    assert stack.wait_until_drained(timeout=90)


@pytest.mark.parametrize(("mode", "keep_order"), [("direct", "false"), ("buffered", "false"), ("buffered", "true")])
def test_each_function_calls_only_what_its_role_grants_and_its_role_grants_only_what_it_calls(
    start_stack: StartStack, mode: str, keep_order: str
) -> None:
    calls = install()
    stack = start_stack(
        env_overrides={**QUIET, **COMPRESSED_RETRY_TIMING},
        parameters={"DeliveryMode": mode, "SendersKeepUserOrder": keep_order},
        braze_config={"supportDedup": True},
        cuttable=("sqs",),
    )
    calls.take_roles()
    stack.cold_start()  # the secrets are read again, as at a cold start
    exercise(stack)
    made = calls.take_roles()
    assert set(made) == {"IngestRole", "RetryRole"}
    for role, role_calls in made.items():
        grants = granted(stack, role)
        used: set[tuple[str, str]] = set()
        for service, operation, resource in sorted(role_calls):
            action = f"{service}:{AUTHORIZED_AS.get(operation, operation)}"
            target = arn(stack, service, resource)
            matching = [(a, r) for actions, patterns in grants for a in actions for r in patterns
                        if a == action and fnmatch(target, r)]  # fmt: skip
            assert matching, f"{role} calls {action} on {target}, which it is not granted"
            used.update(matching)
        unused = {(action, pattern) for actions, patterns in grants for action in actions for pattern in patterns}
        unused -= used
        assert {(role, action) for action, _ in unused} <= UNUSED_HERE, (
            f"{role} is granted more than it calls: {unused}"
        )
