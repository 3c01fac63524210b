from __future__ import annotations

from typing import Any

import pytest

from rudder_braze.adapters.aws.tracing import traced


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return event


def test_tracer_is_not_built_unless_tracing_is_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("POWERTOOLS_TRACE_DISABLED", raising=False)
    assert traced(handler) is handler
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    assert traced(handler) is handler


def test_tracing_on_wraps_the_handler_without_its_response(monkeypatch: pytest.MonkeyPatch) -> None:
    """With tracing on, the handler runs inside Powertools' Tracer, which never records the response (personal
    data)."""
    import aws_lambda_powertools

    calls: list[dict[str, Any]] = []

    class RecordingTracer:
        def capture_lambda_handler(self, **options: Any) -> Any:
            calls.append(options)
            return lambda function: lambda event, context: {"traced": function(event, context)}

    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "false")
    monkeypatch.setattr(aws_lambda_powertools, "Tracer", RecordingTracer)
    assert traced(handler)({"a": 1}, None) == {"traced": {"a": 1}}
    assert calls == [{"capture_response": False}]
