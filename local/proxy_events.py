"""The proxy events API Gateway sends a Lambda function, per API type: a REST API's payload 1.0 and an HTTP API's
payload 2.0, and what else differs between the two as a sender sees it."""

from __future__ import annotations

import base64
import fnmatch
import time
import uuid
from dataclasses import dataclass
from typing import Any

JSON = dict[str, Any]


@dataclass(frozen=True)
class ApiType:
    """What differs between the two API types, as the function and a sender see it."""

    name: str  # rest | http
    not_found: tuple[int, bytes]  # a path or method without a route
    too_large: bytes  # the 413's body


REST = ApiType("rest", (403, b'{"message":"Missing Authentication Token"}'), b'{"message":"Request Too Long"}')
HTTP = ApiType("http", (404, b'{"message":"Not Found"}'), b'{"message":"Request Entity Too Large"}')


@dataclass(frozen=True)
class Route:
    method: str
    stage: str
    resource: str  # the route's path, as declared ("/v1/{kind}")
    path: str  # the request's path
    parameters: dict[str, str] | None


def _header(headers: dict[str, str], name: str) -> str | None:
    return next((v for k, v in headers.items() if k.lower() == name), None)


def _is_binary(content_type: str | None, binary_media_types: list[str]) -> bool:
    """API Gateway's test: does the request's media type match one of the API's binary media types?"""
    if not content_type:
        return False
    media_type = content_type.split(";", 1)[0].strip().lower()
    return any(fnmatch.fnmatchcase(media_type, pattern.lower()) for pattern in binary_media_types)


_TEXT_MEDIA_TYPES = (
    "application/json",
    "application/javascript",
    "application/xml",
    "application/x-www-form-urlencoded",
)


def _is_text(content_type: str | None, content_encoding: str | None) -> bool:
    """An HTTP API's test: a text media type, not content-encoded, passes as text; anything else base64-encoded."""
    if content_encoding or not content_type:
        return False
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type.startswith("text/") or media_type in _TEXT_MEDIA_TYPES or media_type.endswith("+json")


def rest_event(
    route: Route, headers: dict[str, str], body: bytes, source_ip: str, binary_media_types: list[str]
) -> JSON:
    """A REST API's proxy event (payload 1.0): a body whose media type is binary to the API arrives base64-encoded,
    any other as text (bytes that are not UTF-8 mangled, as a REST API mangles them)."""
    content_type = _header(headers, "content-type")
    if _is_binary(content_type, binary_media_types):
        text, encoded = base64.b64encode(body).decode(), True
    else:
        text, encoded = body.decode("utf-8", "replace"), False
    method, resource, bare = route.method, route.resource, route.path
    return {
        "resource": resource,
        "path": bare,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": route.parameters,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": resource,
            "httpMethod": method,
            "path": f"/{route.stage}{bare}",
            "stage": route.stage,
            "requestId": str(uuid.uuid4()),
            "requestTimeEpoch": int(time.time() * 1000),
            "identity": {"sourceIp": source_ip},
            "accountId": "123456789012",
            "apiId": "local",
        },
        "body": text if body else None,
        "isBase64Encoded": encoded,
    }


def http_event(route: Route, headers: dict[str, str], body: bytes, source_ip: str) -> JSON:
    """An HTTP API's proxy event (payload 2.0): header names lower-cased, a body as text only when it is a text
    media type and not content-encoded."""
    if _is_text(_header(headers, "content-type"), _header(headers, "content-encoding")):
        text, encoded = body.decode("utf-8", "replace"), False
    else:
        text, encoded = base64.b64encode(body).decode(), True
    lowered: dict[str, str] = {}
    for key, value in headers.items():  # names lower-cased, repeated headers joined with commas
        lowered[key.lower()] = f"{lowered[key.lower()]},{value}" if key.lower() in lowered else value
    now = time.time()
    route_key = f"{route.method} {route.resource}"
    return {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": f"/{route.stage}{route.path}",
        "rawQueryString": "",
        "headers": lowered,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "local",
            "domainName": "local",
            "domainPrefix": "local",
            "http": {
                "method": route.method,
                "path": f"/{route.stage}{route.path}",
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": lowered.get("user-agent", ""),
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": route_key,
            "stage": route.stage,
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        },
        "pathParameters": route.parameters,
        "body": text if body else None,
        "isBase64Encoded": encoded,
    }
