"""The operator tools' HTTP calls to a bridge's webhook: JSON in, status and JSON out, no retries of its own."""

from __future__ import annotations

import json
from typing import Any

import urllib3

from rudder_braze.operations.bridge import Bridge
from rudder_braze.operations.replay import Answer


class BridgeClient:
    def __init__(self, bridge: Bridge, timeout_seconds: float = 35.0) -> None:
        # A little over API Gateway's 30 s integration timeout: the gateway answers first.
        self.bridge = bridge
        self.http = urllib3.PoolManager(
            maxsize=2, retries=False, timeout=urllib3.Timeout(connect=5, read=timeout_seconds)
        )

    def post(self, path: str, document: Any) -> Answer:
        try:
            response = self.http.request(
                "POST",
                f"{self.bridge.api_url}{path}",
                body=json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode(),
                headers={"Content-Type": "application/json", "Authorization": f"Bearer {self.bridge.token}"},
            )
        except urllib3.exceptions.HTTPError as exc:
            return Answer(None, {"message": f"no answer: {type(exc).__name__}"})
        try:
            body = json.loads(response.data or b"null")
        except ValueError:
            body = {"message": response.data.decode("utf-8", "replace")[:200]}
        retry_after = response.headers.get("Retry-After")
        return Answer(response.status, body, float(retry_after) if retry_after and retry_after.isdigit() else None)
