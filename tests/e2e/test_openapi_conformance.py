"""schemathesis against the local stack: generated requests for every documented operation, and every answer
must be a non-5xx that matches docs/openapi.yaml (status code documented, body of the documented shape)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

from local.stack import LocalStack
from tests.conftest import ROOT

schema = schemathesis.openapi.from_path(str(ROOT / "docs" / "openapi.yaml"))


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    with LocalStack(log_dir=Path(tmp_path_factory.mktemp("logs")), poll=False).start() as local:  # one per module
        yield local


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_answers_as_documented_and_never_5xx(case: Any, stack: LocalStack) -> None:
    headers = {"Authorization": f"Bearer {stack.token}", "Content-Type": "application/json"}
    case.call_and_validate(
        base_url=stack.api.url,
        headers=headers,
        checks=[not_a_server_error, status_code_conformance, response_schema_conformance],
    )
