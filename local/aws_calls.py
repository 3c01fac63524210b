"""Every AWS call the functions make on the local stack, counted by service and operation, and what AWS bills
for them: DynamoDB's write and read request units (``units.dynamodb_write``, ``units.dynamodb_read``) and SQS's
requests (``units.sqs_request``).

The functions run in this process (their invocations in ``lambda-*`` threads, their side-by-side calls in the
package's pool threads), so counting botocore's API calls from those threads counts what they would call on AWS;
the harness's own calls (queue depths, reading the dead-letter queue) come from other threads and are left out.

Each call is also recorded under the role that signed it (``by_role``: the operation and the resources it names),
whichever thread made it: the functions and their event sources sign as their roles (local/aws.py), so the
calls of each role can be checked against what the template grants it.
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

from local.aws import ROLE_KEY_PREFIX

_FUNCTION_THREADS = ("lambda-", "rudder-braze-pool")
_SINGLE_WRITES = {"PutItem", "UpdateItem", "DeleteItem"}


def billed_units(service: str, operation: str, params: dict[str, Any]) -> Counter[str]:
    """On-demand billing of one call, for items of at most 1 KB (writes) and 4 KB (reads), as the bridge's are: a
    write unit per item written (a conditional write that fails is billed too), two per transactional item; a read
    unit per item read strongly consistent (the bridge reads no other way); a request per SQS call (up to 64 KB)."""
    units: Counter[str] = Counter()
    if service == "sqs":
        units["units.sqs_request"] = 1
    elif operation in _SINGLE_WRITES:
        units["units.dynamodb_write"] = 1
    elif operation == "BatchWriteItem":
        units["units.dynamodb_write"] = sum(len(writes) for writes in params["RequestItems"].values())
    elif operation == "TransactWriteItems":
        units["units.dynamodb_write"] = 2 * len(params["TransactItems"])
    elif operation == "GetItem":
        units["units.dynamodb_read"] = 1
    elif operation == "BatchGetItem":
        units["units.dynamodb_read"] = sum(len(table["Keys"]) for table in params["RequestItems"].values())
    return units


def named_resources(service: str, params: dict[str, Any]) -> list[str]:
    """The table names, queue URLs or parameter names a call names."""
    if service == "dynamodb":
        return [params["TableName"]] if "TableName" in params else list(params.get("RequestItems", {}))
    if service == "sqs":
        return [params["QueueUrl"]] if "QueueUrl" in params else []
    if service == "ssm":
        return list(params.get("Names", [])) + ([params["Name"]] if "Name" in params else [])
    return []


class AwsCalls:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.counts: Counter[str] = Counter()  # "dynamodb.UpdateItem" → calls
        self.by_role: dict[str, set[tuple[str, str, str]]] = {}  # role → (service, operation, resource)

    def count(self, service: str, operation: str, params: dict[str, Any], signer: str = "") -> None:
        if signer.startswith(ROLE_KEY_PREFIX):
            calls = {(service, operation, resource) for resource in named_resources(service, params) or [""]}
            with self._lock:
                self.by_role.setdefault(signer.removeprefix(ROLE_KEY_PREFIX), set()).update(calls)
        if threading.current_thread().name.startswith(_FUNCTION_THREADS):
            units = billed_units(service, operation, params)
            with self._lock:
                self.counts[f"{service}.{operation}"] += 1
                self.counts.update(units)

    def take_roles(self) -> dict[str, set[tuple[str, str, str]]]:
        """The calls recorded per role since the last take."""
        with self._lock:
            roles, self.by_role = self.by_role, {}
        return roles

    def take(self) -> Counter[str]:
        """The calls counted since the last take."""
        with self._lock:
            counts, self.counts = self.counts, Counter()
        return counts


CALLS = AwsCalls()


def install() -> AwsCalls:
    """Count from now on (once per process: botocore's client method is wrapped)."""
    from botocore.client import BaseClient

    make_api_call = BaseClient.__dict__["_make_api_call"]
    if getattr(make_api_call, "counted", False):
        return CALLS

    def counted(client: Any, operation: str, params: Any) -> Any:
        credentials = client._request_signer._credentials  # who signs: the role, on the local stack
        signer = credentials.access_key if credentials is not None else ""
        CALLS.count(client.meta.service_model.service_name, operation, params, signer)
        return make_api_call(client, operation, params)

    counted.counted = True  # type: ignore[attr-defined]
    setattr(BaseClient, "_make_api_call", counted)  # noqa: B010 (botocore's stubs do not declare it)
    return CALLS
