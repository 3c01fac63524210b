from __future__ import annotations

from typing import Any

import pytest

from rudder_braze.aws.tracing import traced


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return event


def test_tracer_is_not_built_unless_tracing_is_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("POWERTOOLS_TRACE_DISABLED", raising=False)
    assert traced(handler) is handler
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    assert traced(handler) is handler


def test_tracing_on_wraps_the_handler(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "false")
    monkeypatch.setenv("POWERTOOLS_TRACER_CAPTURE_RESPONSE", "false")
    wrapped = traced(handler)
    assert wrapped is not handler
