"""Every size and count limit the bridge works within, in one place, each with where it comes from.

AWS's limits are the documented service quotas (fixed, not adjustable) as of 2026:

* API Gateway REST API payload: 10 MB.
  https://docs.aws.amazon.com/apigateway/latest/developerguide/limits.html
* Lambda synchronous invocation payload (request and response): 6 MB; a REST API passes a binary body
  base64-encoded (4/3 of its size), which is why the webhook's own limit is well below it.
  https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html
* SQS message size, and the total of one SendMessageBatch: 1 MiB (raised from 256 KiB in 2025; the template sets
  every queue's ``MaximumMessageSize`` to it, and the local stack creates its queues with it); 10 entries per
  batch; ``MessageGroupId`` and ``MessageDeduplicationId`` up to 128 characters; visibility timeout up to 12 hours;
  ``maxReceiveCount`` up to 1,000.
  https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/quotas-messages.html
* DynamoDB item size 400 KB; partition key value 2,048 bytes; BatchWriteItem 25 items; BatchGetItem 100 items.
  https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ServiceQuotas.html
"""

from __future__ import annotations

API_GATEWAY_PAYLOAD_BYTES = 10 * 1024 * 1024
LAMBDA_SYNC_PAYLOAD_BYTES = 6 * 1024 * 1024

SQS_MAX_MESSAGE_BYTES = 1024 * 1024
SQS_MAX_BATCH_BYTES = 1024 * 1024
SQS_MAX_BATCH_ENTRIES = 10
SQS_MAX_VISIBILITY_SECONDS = 12 * 3600
SQS_MAX_RECEIVE_COUNT = 1000

DYNAMODB_MAX_ITEM_BYTES = 400 * 1024
DYNAMODB_MAX_PARTITION_KEY_BYTES = 2048
DYNAMODB_BATCH_WRITE_ITEMS = 25
DYNAMODB_BATCH_GET_ITEMS = 100

# The bridge's own.
# RudderStack's own HTTP API limit for a body (compressed or inflated); base64 of it stays under Lambda's 6 MB.
MAX_BODY_BYTES = 4 * 1024 * 1024
MAX_EVENTS = 1000
MAX_DELETIONS = 1000  # users named in one /v1/deletions call
# messageId, userId, anonymousId, previousId, groupId: counted in UTF-8 bytes. Keys derived from them are digests
# beyond DynamoDB's key limit (see rudder_braze.adapters.aws.state), so this is about sane input, not about keys.
MAX_IDENTIFIER_BYTES = 1024
# A queued event travels as one SQS message and, while it is retried, as one DynamoDB item (the requests it still
# has to send): it must fit the smaller of the two, with room for the item's other attributes and the message's
# attributes. An event over it is refused at the webhook instead of failing when it would have to wait.
MAX_QUEUED_EVENT_BYTES = DYNAMODB_MAX_ITEM_BYTES - 16 * 1024
