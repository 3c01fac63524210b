"""docs/openapi.yaml is generated from the JSON Schemas; it must match them."""

from __future__ import annotations

import sys

from tests.conftest import ROOT

sys.path.insert(0, str(ROOT / "tools"))
import openapi  # tools/openapi.py, the generator


def test_committed_openapi_document_matches_the_schemas() -> None:
    committed = (ROOT / "docs" / "openapi.yaml").read_text(encoding="utf-8")
    assert committed == openapi.render(), "run `python tools/openapi.py` after changing a schema"


def test_every_route_of_the_webhook_is_documented() -> None:
    paths = openapi.document()["paths"]
    assert {"/v1/webhook", "/v1/batch", "/health", "/v1/track", "/v1/identify", "/v1/alias"} <= set(paths)
    assert set(paths["/v1/webhook"]["post"]["responses"]) == {"200", "202", "400", "401", "403", "413", "415", "503"}
    # The SDK routes answer 200 for queued events too: RudderStack's Python SDK sends anything else again.
    for route in ("/v1/batch", "/v1/track"):
        assert set(paths[route]["post"]["responses"]) == {"200", "400", "401", "403", "413", "415", "503"}
