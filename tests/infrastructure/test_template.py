"""The SAM template, expanded offline by the SAM translator: functions, queues, event sources and their timings."""

from __future__ import annotations

import json
from typing import Any

import pytest

from local.template import Template as LocalTemplate
from tests.infrastructure.expanded import Template, resources, statements


def test_functions_run_python313_on_arm64_with_the_shared_layer(template: Template) -> None:
    functions = resources(template, "AWS::Lambda::Function")
    assert set(functions) == {"IngestFunction", "RetryFunction"}
    for function in functions.values():
        properties = function["Properties"]
        assert properties["Runtime"] == "python3.13"
        assert properties["Architectures"] == ["arm64"]
        assert len(properties["Layers"]) == 1


def test_ingest_answers_within_rudderstacks_webhook_timeout(template: Template) -> None:
    ingest = template["Resources"]["IngestFunction"]["Properties"]
    env = ingest["Environment"]["Variables"]
    assert ingest["Timeout"] < 10  # RudderStack's webhook gives up after 10 s
    braze_call_seconds = float(env["BRAZE_CONNECT_TIMEOUT"]) + float(env["BRAZE_READ_TIMEOUT"])
    # The last Braze call may start only while the reserve remains, and must end before the function does.
    assert braze_call_seconds * 1000 < int(env["INGEST_RESERVE_MS"]) < ingest["Timeout"] * 1000


def test_the_retry_paths_last_braze_call_ends_before_the_function_does(template: Template) -> None:
    retry = template["Resources"]["RetryFunction"]["Properties"]
    env = retry["Environment"]["Variables"]  # the Globals merged in by SAM
    connect = float(env["BRAZE_CONNECT_TIMEOUT"])
    for read, reserve in (
        ("BRAZE_READ_TIMEOUT", "RETRY_RESERVE_MS"),
        ("BRAZE_RETRY_READ_TIMEOUT", "RETRY_QUEUE_RESERVE_MS"),
    ):
        assert (connect + float(env[read])) * 1000 < int(env[reserve]) < retry["Timeout"] * 1000
    # The FIFO retry path waits longer for an answer than the webhook can: fewer ambiguous re-sends.
    assert float(env["BRAZE_RETRY_READ_TIMEOUT"]) > float(env["BRAZE_READ_TIMEOUT"])


def test_retry_queue_visibility_is_six_times_the_retry_timeout(template: Template) -> None:
    queue = template["Resources"]["RetryQueue"]["Properties"]
    retry = template["Resources"]["RetryFunction"]["Properties"]
    assert queue["VisibilityTimeout"] >= 6 * retry["Timeout"]


def test_retry_queue_is_fifo_encrypted_and_redrives_to_a_fourteen_day_dead_letter_queue(template: Template) -> None:
    queue = template["Resources"]["RetryQueue"]["Properties"]
    dlq = template["Resources"]["DeadLetterQueue"]["Properties"]
    assert queue["FifoQueue"] is True and dlq["FifoQueue"] is True
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {"Fn::GetAtt": ["DeadLetterQueue", "Arn"]}
    assert queue["RedrivePolicy"]["maxReceiveCount"] >= 5
    assert dlq["MessageRetentionPeriod"] == 14 * 24 * 3600
    assert queue["KmsMasterKeyId"] and dlq["KmsMasterKeyId"]


def test_sqs_never_dead_letters_before_the_bridge_does(template: Template) -> None:
    """An event is received with each event ahead of it in its user's FIFO group (a batch holds up to BatchSize of
    them), each receive counting towards maxReceiveCount: the bridge's attempt limit, at its highest, must end an
    event's life before SQS's count does, for the deployed timing and for the local runs' compressed ones."""
    from local.stack import COMPRESSED_RETRY_TIMING
    from tests.e2e.conftest import FAST

    max_receives = template["Resources"]["RetryQueue"]["Properties"]["RedrivePolicy"]["maxReceiveCount"]
    retry = template["Resources"]["RetryFunction"]["Properties"]
    assert int(retry["Environment"]["Variables"]["RETRY_QUEUE_MAX_RECEIVE_COUNT"]) == max_receives
    batch_size = _mapping_of(template, "RetryQueue")["BatchSize"]
    highest_attempts = int(LocalTemplate("dev").doc["Parameters"]["RetryMaxAttempts"]["MaxValue"])
    for attempts in (
        highest_attempts,
        int(FAST["RETRY_MAX_ATTEMPTS"]),
        int(COMPRESSED_RETRY_TIMING["RETRY_MAX_ATTEMPTS"]),
    ):
        assert attempts <= highest_attempts
        assert batch_size * attempts < max_receives


def _mapping_of(template: Template, queue: str) -> dict[str, Any]:
    mappings: list[dict[str, Any]] = [
        m["Properties"]
        for m in resources(template, "AWS::Lambda::EventSourceMapping").values()
        if m["Properties"]["EventSourceArn"] == {"Fn::GetAtt": [queue, "Arn"]}
    ]
    (mapping,) = mappings
    return mapping


def test_sqs_event_source_reports_batch_failures_and_caps_concurrency(template: Template) -> None:
    properties = _mapping_of(template, "RetryQueue")
    assert properties["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert properties["ScalingConfig"]["MaximumConcurrency"] == {"Ref": "RetryMaxConcurrency"}
    retry = template["Resources"]["RetryFunction"]["Properties"]
    # Reserved concurrency below the ESM's maximum would throttle invocations and burn receive attempts; buffered
    # mode has two sources, so none is reserved there.
    assert retry["ReservedConcurrentExecutions"] == {
        "Fn::If": ["BufferedDelivery", {"Ref": "AWS::NoValue"}, {"Ref": "RetryMaxConcurrency"}]
    }


def test_delivery_mode_defaults_to_direct_and_buffered_adds_its_queue_and_event_source() -> None:
    direct, buffered = LocalTemplate("dev"), LocalTemplate("dev", {"DeliveryMode": "buffered"})
    assert direct.parameters["DeliveryMode"] == "direct"
    parts = ("DeliveryQueue", "DeliveryDeadLetterQueue", "DeliveryEventSource", "DeliveryDeadLetterAlarm")
    assert not any(direct.exists(name) for name in parts)
    assert all(buffered.exists(name) for name in parts)


def test_delivery_queue_gathers_large_batches_for_the_retry_function(template: Template) -> None:
    queue = template["Resources"]["DeliveryQueue"]["Properties"]
    # Lambda gathers batches over a window only from standard queues: a FIFO queue would cap a batch at 10.
    assert "FifoQueue" not in queue and queue["KmsMasterKeyId"] == "alias/aws/sqs"
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {"Fn::GetAtt": ["DeliveryDeadLetterQueue", "Arn"]}
    assert queue["VisibilityTimeout"] >= 6 * template["Resources"]["RetryFunction"]["Properties"]["Timeout"]
    mapping = _mapping_of(template, "DeliveryQueue")
    assert mapping["FunctionName"] == {"Ref": "RetryFunction"}
    assert mapping["BatchSize"] == {"Ref": "DeliveryBatchSize"}
    assert mapping["MaximumBatchingWindowInSeconds"] == {"Ref": "DeliveryBatchWindowSeconds"}
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    for function in ("IngestFunction", "RetryFunction"):
        env = template["Resources"][function]["Properties"]["Environment"]["Variables"]
        assert env["DELIVERY_MODE"] == {"Ref": "DeliveryMode"}
        assert env["DELIVERY_QUEUE_ARN"] == {
            "Fn::If": ["BufferedDelivery", {"Fn::GetAtt": ["DeliveryQueue", "Arn"]}, {"Ref": "AWS::NoValue"}]
        }


def test_buffered_mode_grants_exactly_what_each_function_does_with_the_delivery_queue(template: Template) -> None:
    def granted(role: str) -> list[str]:
        return sorted(
            action
            for s in statements(template, role)
            if s["Resource"] == {"Fn::GetAtt": ["DeliveryQueue", "Arn"]}
            for action in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
        )

    assert granted("IngestRole") == ["sqs:SendMessage"]
    assert granted("RetryRole") == ["sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ReceiveMessage"]


@pytest.mark.parametrize("mode", ["direct", "buffered"])
def test_the_retry_role_grants_only_the_state_calls_its_mode_makes(template: Template, mode: str) -> None:
    """What the retry function calls (docs/performance.md, calls counted): progress read in batches, saved and
    cleared one by one, turns and counts updated, how queued events ended written in batches (and in buffered mode
    the second-copy marks and fingerprints). Never GetItem (only the ingest's claims read one item)."""
    actions: set[str] = set()
    for entry in template["Resources"]["RetryRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]:
        statement = entry
        if "Fn::If" in entry:
            condition, when_true, when_false = entry["Fn::If"]
            statement = when_true if condition == "BufferedDelivery" and mode == "buffered" else when_false
        if statement == {"Ref": "AWS::NoValue"} or statement["Resource"] != {"Fn::GetAtt": ["StateTable", "Arn"]}:
            continue
        actions.update([statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"])
    expected = {"dynamodb:BatchGetItem", "dynamodb:BatchWriteItem", "dynamodb:DeleteItem", "dynamodb:PutItem",
                "dynamodb:UpdateItem"}  # fmt: skip
    assert actions == expected


@pytest.mark.parametrize("role", ["IngestRole", "RetryRole"])
def test_secrets_are_read_only_the_way_the_functions_read_them(template: Template, role: str) -> None:
    """Powertools' get_parameters_by_name with every value decrypted is one GetParameters call (counted in
    docs/performance.md as ssm.GetParameters); GetParameter is never called, so never granted."""
    ssm = [s for s in statements(template, role) if "ssm" in json.dumps(s["Action"])]
    assert [s["Action"] for s in ssm] == ["ssm:GetParameters"]
