"""The local Lambda emulation holds a function to its template timeout, as Lambda does."""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from local.lambda_runtime import FunctionTimedOut, LocalFunction
from local.template import FunctionSpec
from rudder_braze.adapters.aws import AwsClients

# The least a function's environment holds (the template sets these and more).
ENVIRONMENT = {"BRAZE_REST_KEY_PARAMETER": "/key", "RETRY_QUEUE_URL": "retry", "DEAD_LETTER_QUEUE_URL": "dead",
               "STATE_TABLE_NAME": "state"}  # fmt: skip


def function(tmp_path: Path, body: str, timeout: int = 1) -> LocalFunction:
    handler = tmp_path / "app.py"
    handler.write_text(f"import time\n\ndef handler(event, context):\n    {body}\n")
    return LocalFunction(FunctionSpec("slow", handler, "handler", timeout, 128, ENVIRONMENT), AwsClients())


def test_an_invocation_past_its_timeout_is_abandoned_at_the_deadline(tmp_path: Path) -> None:
    slow = function(tmp_path, "time.sleep(3); return 'late'")
    started = time.monotonic()
    with pytest.raises(FunctionTimedOut):
        slow.invoke({})
    assert time.monotonic() - started < 2  # at the 1 s deadline, not when the handler ends
    assert slow.timeouts == 1


def test_an_invocation_within_its_timeout_returns_or_raises_as_the_handler_does(tmp_path: Path) -> None:
    assert function(tmp_path, "return context.get_remaining_time_in_millis() > 0").invoke({}) is True
    with pytest.raises(ZeroDivisionError):
        function(tmp_path, "return 1 / 0").invoke({})


def test_an_invocation_past_its_timeout_stops_and_does_nothing_more(tmp_path: Path) -> None:
    marker = tmp_path / "after-the-deadline"
    slow = function(
        tmp_path,
        f"""
    try:
        for _ in range(30):
            time.sleep(0.1)
    except Exception:
        pass  # a handler that swallows errors must not carry on either
    open({str(marker)!r}, "w").close()""",
    )
    with pytest.raises(FunctionTimedOut):
        slow.invoke({})
    time.sleep(2.5)
    assert not marker.exists()


def test_invocations_run_side_by_side_up_to_the_reserved_concurrency(tmp_path: Path) -> None:
    handler = tmp_path / "app.py"
    handler.write_text(
        "import threading, time\n"
        "running, most, lock = [0], [0], threading.Lock()\n\n"
        "def handler(event, context):\n"
        "    with lock:\n"
        "        running[0] += 1\n"
        "        most[0] = max(most[0], running[0])\n"
        "    time.sleep(0.3)\n"
        "    with lock:\n"
        "        running[0] -= 1\n"
        "    return most[0]\n"
    )
    spec = FunctionSpec("busy", handler, "handler", 5, 128, ENVIRONMENT, reserved_concurrency=2)
    reserved = LocalFunction(spec, AwsClients())
    with ThreadPoolExecutor(max_workers=5) as callers:
        most = max(callers.map(reserved.invoke, [{}] * 5))
    assert most == 2 and reserved.invocations == 5


def test_each_function_runs_with_its_own_settings_and_the_process_environment_is_left_alone(tmp_path: Path) -> None:
    handler = tmp_path / "app.py"
    handler.write_text(
        "from rudder_braze.app import container\n\n"
        "def handler(event, context):\n"
        "    settings = container.current().settings\n"
        "    return settings.delivery_mode, settings.retry_policy.max_attempts\n"
    )
    spec = FunctionSpec("reader", handler, "handler", 5, 128, {**ENVIRONMENT, "DELIVERY_MODE": "buffered"})
    buffered = LocalFunction(spec, AwsClients(), {"RETRY_MAX_ATTEMPTS": "3"})
    direct = LocalFunction(FunctionSpec("reader", handler, "handler", 5, 128, ENVIRONMENT), AwsClients())
    environ_before = dict(os.environ)
    assert (buffered.invoke({}), direct.invoke({})) == (("buffered", 3), ("direct", 10))
    buffered.cold_start({"RETRY_MAX_ATTEMPTS": "2"})  # a configuration change: a new execution environment
    assert buffered.invoke({}) == ("buffered", 2)
    assert dict(os.environ) == environ_before
