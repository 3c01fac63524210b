"""Adapters between the delivery policy and AWS (SSM, SQS, DynamoDB). boto3 is imported only when one is built."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

# What each service's calls may take. boto3's defaults (60 s to connect, 60 s to read, up to 5 attempts) would let
# one unreachable SQS or DynamoDB endpoint outlast the ingest function's 9 s. Here an endpoint that cannot be reached
# fails a call in about 2 s (2 attempts of at most 1 s to connect, standard backoff), one that takes the call and
# never answers in about 9 s (4 s to read each); SSM reads faster still (the cached secrets serve meanwhile).
_READ_TIMEOUTS = {"ssm": 2}
_DEFAULT_READ_TIMEOUT = 4


class AwsClients:
    """Where a function's boto3 clients come from: one per service, built on first use (boto3 costs ~180 ms of
    import that a 401 or a 400 never needs) and shared by the adapters (boto3 clients are thread-safe).

    On Lambda nothing is passed: boto3 finds the region and the role's credentials in the runtime's environment.
    The local stack passes its endpoints (moto, or a proxy a test can cut) and credentials instead of changing the
    process's environment; a test passes ready-made stand-ins as ``built``."""

    def __init__(
        self,
        endpoint_urls: Mapping[str, str] | None = None,
        options: Mapping[str, str] | None = None,
        built: Mapping[str, Any] | None = None,
    ) -> None:
        self.endpoint_urls = dict(endpoint_urls or {})  # service → URL
        self.options = dict(options or {})  # region_name, aws_access_key_id, ...
        self._built: dict[str, Any] = dict(built or {})
        self._lock = threading.Lock()

    def client(self, service: str) -> Any:
        with self._lock:
            if service not in self._built:
                self._built[service] = self._build(service)
            return self._built[service]

    def _build(self, service: str) -> Any:
        import boto3
        from botocore.config import Config

        config = Config(
            connect_timeout=1,
            read_timeout=_READ_TIMEOUTS.get(service, _DEFAULT_READ_TIMEOUT),
            retries={"mode": "standard", "max_attempts": 2},
        )
        where = {"endpoint_url": self.endpoint_urls[service]} if service in self.endpoint_urls else {}
        return boto3.client(service, config=config, **where, **self.options)  # type: ignore[call-overload]


def batch_put(client: Any, table_name: str, items: list[dict[str, Any]]) -> None:
    """Write whole items with BatchWriteItem (25 per call, the calls side by side) until DynamoDB has processed
    every one."""
    from rudder_braze.limits import DYNAMODB_BATCH_WRITE_ITEMS
    from rudder_braze.parallel import in_parallel

    def write(chunk: list[dict[str, Any]]) -> None:
        writes: list[dict[str, Any]] = [{"PutRequest": {"Item": item}} for item in chunk]
        while writes:
            answer = client.batch_write_item(RequestItems={table_name: writes})
            writes = answer.get("UnprocessedItems", {}).get(table_name, [])

    in_parallel(
        write, [items[i : i + DYNAMODB_BATCH_WRITE_ITEMS] for i in range(0, len(items), DYNAMODB_BATCH_WRITE_ITEMS)]
    )


def batch_get(client: Any, table_name: str, ids: list[str]) -> dict[str, dict[str, Any]]:
    """Items by their ``id`` (strongly consistent, 100 per call; ids not found are absent)."""
    from rudder_braze.limits import DYNAMODB_BATCH_GET_ITEMS

    found: dict[str, dict[str, Any]] = {}
    unique = list(dict.fromkeys(ids))
    for start in range(0, len(unique), DYNAMODB_BATCH_GET_ITEMS):
        keys: list[dict[str, Any]] = [{"id": {"S": i}} for i in unique[start : start + DYNAMODB_BATCH_GET_ITEMS]]
        while keys:
            answer = client.batch_get_item(RequestItems={table_name: {"Keys": keys, "ConsistentRead": True}})
            for item in answer.get("Responses", {}).get(table_name, ()):
                found[item["id"]["S"]] = item
            keys = answer.get("UnprocessedKeys", {}).get(table_name, {}).get("Keys", [])
    return found
