"""The Powertools Tracer, only when tracing is on (``EnableTracing`` sets ``POWERTOOLS_TRACE_DISABLED=false``):
creating it imports the X-Ray SDK and botocore's patching, about 300 ms of cold start the bridge does not pay
by default."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any


def traced[Handler: Callable[..., Any]](handler: Handler) -> Handler:
    if os.environ.get("POWERTOOLS_TRACE_DISABLED", "true").lower() != "false":
        return handler
    from aws_lambda_powertools import Tracer

    # No payloads in traces: responses hold personal data.
    wrapped: Handler = Tracer().capture_lambda_handler(capture_response=False)(handler)
    return wrapped
