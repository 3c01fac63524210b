"""Every case of RudderStack's own Braze test suite, run through our mapping and packer.

Processor cases go one event at a time; router cases through the packer under RudderStack's default batch rule.
Request paths and bodies must be equal (ignoring only ``partner`` and headers); a case may differ only if
``docs/deviations.md`` lists it, and a listed case must really differ (so the list cannot go stale).
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from rudder_braze.config import load_settings
from rudder_braze.delivery.dedup import Fingerprints, profile_fingerprints, user_key
from rudder_braze.delivery.packing import pack
from rudder_braze.usecases.transform import EventResult, deduplicate_result, process_event
from tests.conftest import ROOT, shared_json

CASES = "conformance/rudder-braze-cases.json"


def _case_ids() -> list[str]:
    try:
        return [case["id"] for case in shared_json(CASES)]
    except pytest.skip.Exception:
        return ["reference-data-absent"]


def _deviating_cases() -> set[str]:
    text = (ROOT / "docs" / "deviations.md").read_text(encoding="utf-8")
    return set(re.findall(r"`((?:processor|router)-[\w-]+)`", text))


def _strip(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k != "partner"}


def _settings(config: dict[str, Any]) -> Any:
    # The cases were recorded under RudderStack's default /users/track rule.
    return load_settings({**config, "trackBatchRule": "per-array-75"})


def _processor_differences(case: dict[str, Any]) -> list[str]:
    result = process_event(0, case["input_message"], _settings(case["destination_config"]))
    expected = case["expected"]
    if "error" in expected:
        if result.error is None:
            return [f"expected error {expected['error']!r}, got requests"]
        problems = []
        if result.error.reason != expected["error"]:
            problems.append(f"error text {result.error.reason!r} != {expected['error']!r}")
        if result.error.status != expected["status_code"]:
            problems.append(f"status {result.error.status} != {expected['status_code']}")
        return problems
    if result.error is not None:
        return [f"rejected: {result.error.reason} at {result.error.path}"]
    ours = [(r.path, _strip(r.body)) for r in result.requests or ()]
    theirs = [
        ("/" + r["endpoint"].split(".braze.", 1)[1].split("/", 1)[1], r["body"])
        for r in case.get("side_effect_requests") or ()
        if r["endpoint"].endswith("/users/identify")
    ]
    theirs += [("/" + r["endpoint_path"], _strip(r["body"])) for r in expected["requests"]]
    return [] if ours == theirs else [f"requests differ:\n ours   {ours}\n theirs {theirs}"]


def _known_profiles(case: dict[str, Any]) -> dict[str, Fingerprints]:
    """What RudderStack's /users/export/ids lookup returned in this case, as our dedup fingerprints."""
    known: dict[str, Fingerprints] = {}
    for mock in case.get("network_mocks") or ():
        if mock.get("url", "").endswith("/users/export/ids"):
            for profile in mock["response_body"].get("users", ()):
                known[user_key(profile) or ""] = profile_fingerprints(profile)
    return known


def _router_differences(case: dict[str, Any]) -> list[str]:
    results: list[tuple[int, EventResult]] = []
    known = _known_profiles(case)
    for index, item in enumerate(case["input_events"]):
        settings = _settings(item["destination_config"])
        result = process_event(index, item["message"], settings)
        if settings.support_dedup and result.requests is not None:
            deduplicate_result(result, known)
        results.append((item["metadata"]["jobId"], result))
    accepted = [(str(job), result.requests) for job, result in results if result.requests is not None]
    packed = pack(accepted, _settings(case["destination_config"]).track_batch_rule)
    ours = [(r.path, _strip(r.body)) for r in packed]
    theirs = [
        ("/users/identify", r["body"])
        for r in case.get("side_effect_requests") or ()
        if r["endpoint"].endswith("/users/identify")
    ]
    expected_errors: dict[int, str] = {}
    for output in case["expected"]["outputs"]:
        if output.get("requests"):
            theirs += [("/" + r["endpoint_path"], _strip(r["body"])) for r in output["requests"]]
        elif "error" in output:
            expected_errors.update((job, output["error"]) for job in output["job_ids"])
    problems = [] if ours == theirs else [f"requests differ:\n ours   {ours}\n theirs {theirs}"]
    our_errors = {job: result.error.reason for job, result in results if result.error is not None}
    our_errors.update((job, result.filtered) for job, result in results if result.filtered is not None)
    if our_errors != expected_errors:
        problems.append(f"rejected events differ: ours {our_errors}, theirs {expected_errors}")
    return problems


@pytest.mark.parametrize("case_id", _case_ids())
def test_case_matches_rudderstack_or_is_a_listed_deviation(case_id: str) -> None:
    case = next(case for case in shared_json(CASES) if case["id"] == case_id)
    problems = _processor_differences(case) if case["kind"] == "processor" else _router_differences(case)
    if case_id in _deviating_cases():
        assert problems, f"{case_id} is listed in docs/deviations.md but now matches RudderStack: unlist it"
    else:
        assert not problems, "\n".join(problems)
