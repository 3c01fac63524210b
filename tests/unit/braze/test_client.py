"""How each Braze answer is classified, including RudderStack's 19 response-handling cases."""

from __future__ import annotations

from typing import Any

import pytest

from rudder_braze.braze.client import BrazeResponse, Outcome, classify
from tests.conftest import shared_json

CASES = "conformance/rudder-braze-delivery-cases.json"
_ERROR_TYPES = {"retryable": Outcome.RETRYABLE, "throttled": Outcome.THROTTLED, "aborted": Outcome.PERMANENT}


def _case_ids() -> list[str]:
    try:
        return [case["id"] for case in shared_json(CASES)]
    except pytest.skip.Exception:
        return ["reference-data-absent"]


def _response(recorded: Any) -> BrazeResponse:
    if not isinstance(recorded, dict) or recorded.get("status") is None:
        return BrazeResponse(None, error=str(recorded)[:80])  # the case describes a failure with no HTTP answer
    return BrazeResponse(recorded["status"], recorded.get("body"))


@pytest.mark.parametrize("case_id", _case_ids())
def test_rudderstack_response_cases(case_id: str) -> None:
    case = next(case for case in shared_json(CASES) if case["id"] == case_id)
    expected = case["expected"]
    error_type = (expected.get("stat_tags") or {}).get("errorType")
    outcome = classify(_response(case["destination_response"])).outcome
    if error_type is not None:
        assert outcome is _ERROR_TYPES[error_type]
    else:
        assert outcome in (Outcome.DELIVERED, Outcome.PARTIAL)


def test_throttled_waits_until_the_rate_limit_window_resets() -> None:
    response = BrazeResponse(
        429, {"message": "rate limited"}, {"X-RateLimit-Reset": "1000", "X-RateLimit-Remaining": "0"}
    )
    classification = classify(response, now=990.0)
    assert classification.outcome is Outcome.THROTTLED
    assert classification.retry_after == 10.0


def test_partial_success_names_each_refused_object() -> None:
    body = {
        "message": "success",
        "errors": [{"type": "'quantity' is not valid", "input_array": "purchases", "index": 2}],
    }
    classification = classify(BrazeResponse(201, body))
    assert classification.outcome is Outcome.PARTIAL
    assert [(e.array, e.index, e.reason) for e in classification.item_errors] == [
        ("purchases", 2, "'quantity' is not valid")
    ]


@pytest.mark.parametrize(
    ("status", "body", "outcome"),
    [
        (200, {"message": "success"}, Outcome.DELIVERED),
        (202, {"message": "queued"}, Outcome.DELIVERED),
        (201, "", Outcome.DELIVERED),
        (200, {"deleted": 3}, Outcome.DELIVERED),
        (201, {"message": "Valid data must be provided", "errors": ["x"]}, Outcome.PERMANENT),
        (400, {"message": "Max Input Length Exceeded"}, Outcome.PERMANENT),
        (401, {"message": "Invalid API Key"}, Outcome.PERMANENT),
        (404, "", Outcome.PERMANENT),
        (500, "", Outcome.RETRYABLE),
        (503, {"error": "maintenance"}, Outcome.RETRYABLE),
        (None, None, Outcome.RETRYABLE),
    ],
)
def test_outcome_by_status_and_body(status: int | None, body: Any, outcome: Outcome) -> None:
    assert classify(BrazeResponse(status, body)).outcome is outcome


def test_pacer_spreads_the_calls_left_over_the_window_and_waits_out_a_spent_one() -> None:
    from rudder_braze.braze.client import RatePacer

    now = [100.0]
    slept: list[float] = []
    pacer = RatePacer(clock=lambda: now[0], sleep=slept.append)
    pacer.wait()
    assert slept == []  # nothing known yet: no wait
    pacer.observe(remaining=9, reset=101.0)  # 9 calls left in the next second
    pacer.wait()
    assert slept == [pytest.approx(0.1)]
    pacer.observe(remaining=0, reset=102.5)
    pacer.wait(max_wait=30)
    assert slept[-1] == pytest.approx(2.5)
    pacer.observe(remaining=0, reset=200.0)
    pacer.wait(max_wait=2)
    assert slept[-1] == 2  # never longer than the caller can afford
