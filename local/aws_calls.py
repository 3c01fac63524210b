"""Every AWS call the functions make on the local stack, counted by service and operation.

The functions run in this process (their invocations in ``lambda-*`` threads, their side-by-side calls in the
package's pool threads), so counting botocore's API calls from those threads counts what they would call on AWS;
the harness's own calls (queue depths, reading the dead-letter queue) come from other threads and are left out.
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

_FUNCTION_THREADS = ("lambda-", "rudder-braze-pool")


class AwsCalls:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.counts: Counter[str] = Counter()  # "dynamodb.UpdateItem" → calls

    def count(self, service: str, operation: str) -> None:
        if threading.current_thread().name.startswith(_FUNCTION_THREADS):
            with self._lock:
                self.counts[f"{service}.{operation}"] += 1

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
        CALLS.count(client.meta.service_model.service_name, operation)
        return make_api_call(client, operation, params)

    counted.counted = True  # type: ignore[attr-defined]
    setattr(BaseClient, "_make_api_call", counted)  # noqa: B010 (botocore's stubs do not declare it)
    return CALLS
