"""Operator commands against moto: make secrets (write, rotate) and make dlq / make redrive."""

from __future__ import annotations

import importlib.util
from types import ModuleType

from local.stack import LocalStack
from tests.conftest import ROOT
from tests.integration.conftest import api_event, ingest, sample, stored


def tool(name: str) -> ModuleType:
    """A script of tools/, loaded as a module."""
    spec = importlib.util.spec_from_file_location(f"tool_{name}", ROOT / "tools" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


dlq = tool("dlq")
secrets_tool = tool("ssm_secrets")


def read(stack: LocalStack, name: str) -> str:
    value: str = stack.aws.client("ssm").get_parameter(Name=f"/rudder-braze/dev/{name}", WithDecryption=True)[
        "Parameter"
    ]["Value"]
    return value


def test_secrets_are_written_as_secure_strings_and_the_token_rotates(stack: LocalStack) -> None:
    ssm = stack.aws.client("ssm")
    written = secrets_tool.write_secrets(
        ssm, "rudder-braze", "dev", {"braze-rest-api-key": "k1", "webhook-token": "t1"}
    )
    assert "/rudder-braze/dev/braze-rest-api-key" in written
    assert ssm.get_parameter(Name="/rudder-braze/dev/webhook-token")["Parameter"]["Type"] == "SecureString"
    assert read(stack, "webhook-previous-token") == "-"
    secrets_tool.write_secrets(ssm, "rudder-braze", "dev", {}, rotate_token=True)
    assert read(stack, "webhook-previous-token") == "t1"
    assert read(stack, "webhook-token") not in ("t1", "-") and len(read(stack, "webhook-token")) >= 32


def test_dlq_shows_reasons_without_bodies_and_redrive_delivers_once(stack: LocalStack) -> None:
    stack.simulator.set_faults({"reject_permanently": ["Video Played"]})
    assert ingest(stack, api_event(sample("track")))[1]["dead_lettered"] == 1
    urls = stack.template.physical
    (entry,) = dlq.show(stack.sqs, urls["DeadLetterQueue"]["Ref"])
    assert entry["messageId"] == "sample-track-1" and "blacklisted" in entry["reason"]
    assert entry["paths"] == ["/users/track"] and "body" not in entry
    stack.simulator.set_faults({"reject_permanently": []})  # the cause is fixed
    assert dlq.redrive(stack.sqs, urls["DeadLetterQueue"]["Ref"], urls["RetryQueue"]["Ref"]) == 1
    assert dlq.show(stack.sqs, urls["DeadLetterQueue"]["Ref"]) == []
    assert stack.wait_until_drained(timeout=20)
    assert [e["name"] for e in stored(stack, "events")] == ["Video Played"]
