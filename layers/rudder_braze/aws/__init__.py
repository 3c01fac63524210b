"""Adapters between the delivery policy and AWS (SSM, SQS, DynamoDB). boto3 is imported only when one is built."""
