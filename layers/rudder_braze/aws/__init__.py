"""Adapters between the delivery policy and AWS (SSM, SQS, DynamoDB). boto3 is imported only when one is built."""

from typing import Any


def aws_client(service: str) -> Any:
    """A boto3 client, imported on first use (boto3 costs ~180 ms of import that a 401 or a 400 never needs)."""
    import boto3

    return boto3.client(service)  # type: ignore[call-overload]
