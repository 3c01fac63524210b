"""API Gateway, locally: an HTTP server that turns each request into the proxy event API Gateway would send for
the API type the template selects, on the routes it declares: a REST API's payload 1.0 or an HTTP API's payload 2.0.

A REST API passes a body whose Content-Type matches its binary media types base64-encoded and any other as text
(bytes that are not UTF-8 mangled, as a REST API mangles them); an HTTP API passes a body as text only when it is
a text media type and not content-encoded. A body over API Gateway's 10 MB payload limit is read and answered
413; requests over the stage's throttling (rate and burst) are answered 429; a path without a route is answered
as each API type answers it (403 or 404); a function that crashed or timed out is answered 502."""

from __future__ import annotations

import base64
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from local.lambda_runtime import LocalFunction
from local.loopback import LoopbackServer, QuietHandler
from local.proxy_events import HTTP, REST, ApiType, Route, http_event, rest_event

JSON = dict[str, Any]
API_PAYLOAD_LIMIT = 10 * 1024 * 1024  # API Gateway's own request size limit (10 MB)
_READ_CHUNK = 1024 * 1024


class TokenBucket:
    """API Gateway's stage throttling: ``rate`` requests per second on average, up to ``burst`` at once."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate, self.burst = rate, burst
        self.tokens, self.at = float(burst), time.monotonic()
        self.lock = threading.Lock()

    def take(self) -> bool:
        with self.lock:
            now = time.monotonic()
            self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
            self.at = now
            if self.tokens < 1:
                return False
            self.tokens -= 1
            return True


class PayloadTooLarge(Exception):
    """The request body is over API Gateway's payload limit (it has been read and discarded)."""


def _route_pattern(path: str) -> re.Pattern[str]:
    return re.compile("^" + re.sub(r"\\\{([^}]+)\\\}", r"(?P<\1>[^/]+)", re.escape(path)) + "$")


@dataclass(frozen=True)
class GatewayOptions:
    api_type: ApiType = REST
    routes: list[tuple[str, str]] = field(default_factory=list)  # (method, path), as the template declares them
    host: str = "127.0.0.1"
    port: int = 3000
    binary_media_types: list[str] = field(default_factory=list)  # a REST API's
    throttle: TokenBucket | None = None  # the stage's throttling
    record: bool = False  # keep every request as it arrived


class ApiGateway:
    """The template's API on ``127.0.0.1:port``, without the stage prefix (as ``sam local start-api``)."""

    def __init__(self, function: LocalFunction, stage: str, options: GatewayOptions | None = None) -> None:
        options = options or GatewayOptions()
        host, port, record = options.host, options.port, options.record
        binary_media_types, throttle = options.binary_media_types, options.throttle
        self.function = function
        self.stage = stage
        self.api_type = options.api_type
        self.binary_media_types = binary_media_types or []
        self.throttle = throttle  # the stage's throttling: over it, API Gateway answers 429 without invoking
        self.throttled = 0
        # With ``record``: every request as it arrived ``(path, headers, body)``, for tests of what real clients send.
        self.record = record
        self.received: list[tuple[str, dict[str, str], bytes]] = []
        self.routes = [(method.upper(), path, _route_pattern(path)) for method, path in options.routes]
        handler = type("Handler", (_GatewayHandler,), {"gateway": self})
        self.server = LoopbackServer(handler, host, port, "api-gateway")

    @property
    def url(self) -> str:
        return self.server.url

    def start(self) -> ApiGateway:
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()

    def proxy_event(self, method: str, path: str, headers: dict[str, str], body: bytes, source_ip: str) -> JSON | None:
        bare = path.split("?", 1)[0]
        for route_method, resource, pattern in self.routes:
            match = pattern.match(bare)
            if match and route_method == method:
                route = Route(method, self.stage, resource, bare, match.groupdict() or None)
                if self.api_type is HTTP:
                    return http_event(route, headers, body, source_ip)
                return rest_event(route, headers, body, source_ip, self.binary_media_types)
        return None


_JSON_TYPE = {"Content-Type": "application/json"}


def _function_answer(result: JSON) -> tuple[int, bytes, dict[str, str]]:
    """A Lambda proxy result as API Gateway answers it."""
    payload = result.get("body") or ""
    raw = base64.b64decode(payload) if result.get("isBase64Encoded") else payload.encode()
    headers = {k: str(v) for k, v in (result.get("headers") or {}).items()}
    for key, values in (result.get("multiValueHeaders") or {}).items():
        headers[key] = ", ".join(str(v) for v in values)
    return int(result.get("statusCode", 200)), raw, headers


class _GatewayHandler(QuietHandler):
    gateway: ApiGateway

    def _answer(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _read(self, length: int) -> bytes:
        """Up to the payload limit; past it, read on and discard, so the sender gets its 413."""
        body = bytearray()
        while length > 0:
            chunk = self.rfile.read(min(_READ_CHUNK, length))
            if not chunk:
                break
            length -= len(chunk)
            if len(body) <= API_PAYLOAD_LIMIT:
                body += chunk
        return bytes(body)

    def _chunked(self) -> bytearray:
        body = bytearray()
        while size := int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16):
            chunk = self._read(size)
            if len(body) <= API_PAYLOAD_LIMIT:
                body += chunk
            self.rfile.readline()  # the CRLF after each chunk
        while self.rfile.readline().strip():  # trailers, up to the empty line
            pass
        return body

    def _body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            body = self._chunked()
        else:
            body = bytearray(self._read(int(self.headers.get("Content-Length") or 0)))
        if len(body) > API_PAYLOAD_LIMIT:
            raise PayloadTooLarge
        return bytes(body)

    def _outcome(self) -> tuple[int, bytes, dict[str, str]]:
        gateway = self.gateway
        try:
            body = self._body()
        except PayloadTooLarge:
            return 413, gateway.api_type.too_large, _JSON_TYPE
        if gateway.throttle is not None and not gateway.throttle.take():
            gateway.throttled += 1
            return 429, b'{"message":"Too Many Requests"}', _JSON_TYPE
        headers = dict(self.headers.items())
        if gateway.record:
            gateway.received.append((self.path, headers, body))
        event = gateway.proxy_event(self.command, self.path, headers, body, self.client_address[0])
        if event is None:
            status, answer = gateway.api_type.not_found
            return status, answer, _JSON_TYPE
        try:
            return _function_answer(gateway.function.invoke(event))
        except Exception:  # as API Gateway answers for a function that crashed (or timed out)
            return 502, b'{"message": "Internal server error"}', _JSON_TYPE

    def _any(self) -> None:
        self._answer(*self._outcome())

    def __getattr__(self, name: str) -> Any:
        # Every method (do_GET, do_QUERY, …): unknown routes and methods get API Gateway's answer, not 501.
        if name.startswith("do_"):
            return self._any
        raise AttributeError(name)
