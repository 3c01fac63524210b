"""Adapters between the delivery policy and AWS (SSM, SQS, DynamoDB). boto3 is imported only when one is built."""

from typing import Any


def aws_client(service: str) -> Any:
    """A boto3 client, imported on first use (boto3 costs ~180 ms of import that a 401 or a 400 never needs).

    boto3's defaults (60 s to connect, 60 s to read, up to 5 attempts) would let one unreachable SQS or DynamoDB
    endpoint outlast the ingest function's 9 s. Here an endpoint that cannot be reached fails a call in about 2 s
    (2 attempts of at most 1 s to connect, standard backoff), one that takes the call and never answers in about
    9 s (4 s to read each); a healthy call takes milliseconds."""
    import boto3
    from botocore.config import Config

    config = Config(connect_timeout=1, read_timeout=4, retries={"mode": "standard", "max_attempts": 2})
    return boto3.client(service, config=config)  # type: ignore[call-overload]


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
