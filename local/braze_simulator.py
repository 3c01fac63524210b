"""A Braze REST API simulator: a real HTTP server on loopback for the local stack, the demo and the tests.

It checks what Braze checks (the Bearer key, request shape and limits, identifiers, reserved and ``$`` keys,
string lengths, purchase fields), answers as Braze answers (201 ``success``, ``errors[]`` for refused objects, 400
when nothing is valid, 401, 429 with ``X-RateLimit-*`` headers), and records every object it accepted so a test
can ask what Braze stored and how many times. Faults are injected through ``POST /_sim/faults``.

Control endpoints (no key needed): ``GET /_sim/requests`` (each request's path, status, size and JSON body; the
Authorization header is never kept), ``GET /_sim/objects``, ``GET /_sim/stats``, ``POST /_sim/faults``,
``POST /_sim/reset``. A body that is not strictly JSON (not UTF-8, ``NaN``, ``Infinity``, a lone surrogate escape)
is answered 400, as a JSON parser that follows the standard answers it.

Run it alone: ``python -m local.braze_simulator --port 4000 --api-key local-braze-key``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import random
import socket
import threading
import time
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

JSON = dict[str, Any]
IDENTIFIER_REQUIRED = "'external_id', 'braze_id', 'user_alias', 'email' or 'phone' is required"
NOTHING_VALID = "Valid data must be provided in the 'attributes', 'events', or 'purchases' fields."
MAX_STRING = 255
TRACK_ARRAYS = ("attributes", "events", "purchases")
# Braze's default limits (facts sheet A3): /users/track 3,000 per 3 s; identify/merge/delete share 20,000 per
# minute; subscription status 5,000 per minute.
DEFAULT_LIMITS: dict[str, tuple[int, float]] = {
    "/users/track": (3000, 3.0),
    "identity": (20000, 60.0),
    "/v2/subscription/status/set": (5000, 60.0),
}
_LIMIT_GROUP = {"/users/identify": "identity", "/users/merge": "identity", "/users/delete": "identity"}


@dataclass
class Faults:
    """What can go wrong, each a share of requests (0..1) unless said otherwise."""

    throttle_rate: float = 0.0  # answer 429 (with reset headers) before processing
    error_rate: float = 0.0  # answer 500/502/503 before processing
    drop_rate: float = 0.0  # close the connection without an answer, before processing
    timeout_rate: float = 0.0  # hold the request for ``timeout_seconds`` before processing (a client timeout)
    timeout_seconds: float = 10.0
    latency_ms: float = 0.0  # added to every request
    outage_until: float = 0.0  # epoch seconds: every request fails with 503 until then
    rate_limits: dict[str, tuple[int, float]] = field(default_factory=dict)  # path or group → (limit, window s)
    track_rule: str = "total-75"  # "total-75" (Braze's current docs), "total-50" (MAU plans), "per-array-75"
    reject_permanently: list[str] = field(default_factory=list)  # event names answered with a whole-request 400
    seed: int | None = None


@dataclass
class Stored:
    kind: str  # attributes | events | purchases | aliases_identified | merges | deletions | subscriptions
    obj: JSON
    at: float


class _Window:
    """A fixed rate-limit window, as Braze reports it (limit, remaining, reset at epoch seconds)."""

    def __init__(self, limit: int, seconds: float) -> None:
        self.limit, self.seconds = limit, seconds
        self.start = 0.0
        self.used = 0

    def take(self, now: float) -> tuple[bool, int, float]:
        if now >= self.start + self.seconds:
            self.start = math.floor(now / self.seconds) * self.seconds
            self.used = 0
        reset = self.start + self.seconds
        if self.used >= self.limit:
            return False, 0, reset
        self.used += 1
        return True, self.limit - self.used, reset


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _strict_json(raw: bytes) -> Any:
    """The body as JSON, or ``None`` when it is not strictly JSON: not UTF-8, ``NaN``/``Infinity`` (Python's
    extensions), or a string escape that is not Unicode (a lone surrogate)."""
    try:
        body = json.loads(raw, parse_constant=_reject_constant)
        json.dumps(body, ensure_ascii=False).encode("utf-8")
    except (ValueError, UnicodeError):
        return None
    return body


class BrazeSimulator:
    def __init__(self, api_key: str = "local-braze-key", faults: Faults | None = None) -> None:
        self.api_key = api_key
        self.lock = threading.Lock()
        self.faults = faults or Faults()
        self.random = random.Random(self.faults.seed)
        self.requests: list[JSON] = []
        self.stored: list[Stored] = []
        self.windows: dict[str, _Window] = {}

    # --- control ----------------------------------------------------------------------------------------------

    def set_faults(self, settings: JSON) -> None:
        with self.lock:
            values = {**asdict(self.faults), **settings}
            if "outage_seconds" in values:
                values["outage_until"] = time.time() + float(values.pop("outage_seconds"))
            values["rate_limits"] = {k: tuple(v) for k, v in values.get("rate_limits", {}).items()}
            self.faults = Faults(**values)
            self.random = random.Random(self.faults.seed)
            self.windows = {}

    def reset(self) -> None:
        with self.lock:
            self.requests, self.stored, self.windows = [], [], {}
            self.faults = Faults()
            self.random = random.Random()

    def stats(self) -> JSON:
        with self.lock:
            statuses: dict[str, int] = {}
            for request in self.requests:
                statuses[str(request["status"])] = statuses.get(str(request["status"]), 0) + 1
            kinds: dict[str, int] = {}
            for item in self.stored:
                kinds[item.kind] = kinds.get(item.kind, 0) + 1
            return {"requests": len(self.requests), "statuses": statuses, "stored": kinds}

    # --- the API ----------------------------------------------------------------------------------------------

    def _limit(self, path: str, now: float) -> tuple[bool, JSON]:
        group = _LIMIT_GROUP.get(path, path)
        limit, seconds = self.faults.rate_limits.get(
            group, self.faults.rate_limits.get(path, DEFAULT_LIMITS.get(group, (250000, 3600.0)))
        )
        window = self.windows.setdefault(group, _Window(limit, seconds))
        allowed, remaining, reset = window.take(now)
        headers = {
            "X-RateLimit-Limit": str(limit),
            "X-RateLimit-Remaining": str(remaining),
            "X-RateLimit-Reset": str(math.ceil(reset)),
        }
        return allowed, headers

    def handle(self, path: str, authorization: str | None, raw: bytes) -> tuple[int | None, JSON | str, JSON, float]:
        """Return ``(status, body, headers, delay)``; a ``None`` status means: drop the connection."""
        now = time.time()
        with self.lock:
            faults = self.faults
            delay = faults.latency_ms / 1000
            record: JSON = {"path": path, "at": now, "bytes": len(raw)}
            self.requests.append(record)
            if authorization != f"Bearer {self.api_key}":
                record["status"] = 401
                return 401, {"message": "Invalid API Key"}, {}, delay
            allowed, headers = self._limit(path, now)
            roll = self.random.random()
            if now < faults.outage_until:
                record["status"] = 503
                return 503, {"message": "Service Unavailable"}, headers, delay
            if not allowed:
                record["status"] = 429
                return 429, {"message": "Rate limit exceeded"}, headers, delay
            if roll < faults.throttle_rate:
                # An injected 429 (other traffic sharing the workspace, say): the headers keep telling the window's
                # true state, so a client pacing on them is not told to stop for the rest of the window.
                record["status"] = 429
                return 429, {"message": "Rate limit exceeded"}, headers, delay
            roll -= faults.throttle_rate
            if roll < faults.error_rate:
                status = self.random.choice([500, 502, 503])
                record["status"] = status
                return status, {"message": "Internal Server Error"}, headers, delay
            roll -= faults.error_rate
            if roll < faults.drop_rate:
                record["status"] = "dropped"
                return None, "", {}, delay
            roll -= faults.drop_rate
            if roll < faults.timeout_rate:
                record["status"] = "timeout"
                return None, "", {}, delay + faults.timeout_seconds
            body = _strict_json(raw)
            record["body"] = body if body is not None else raw.decode("utf-8", "replace")
            if body is None:
                record["status"] = 400
                return 400, {"message": "Malformed JSON"}, headers, delay
            if not isinstance(body, dict):
                record["status"] = 400
                return 400, {"message": "The request body must be a JSON object"}, headers, delay
            handler = {
                "/users/track": self._track,
                "/users/identify": self._identify,
                "/users/merge": self._merge,
                "/users/delete": self._delete,
                "/v2/subscription/status/set": self._subscription,
            }.get(path)
            if handler is None:
                record["status"] = 404
                return 404, {"message": "Not Found"}, headers, delay
            status, answer = handler(body, now)
            record["status"] = status
            return status, answer, headers, delay

    # --- endpoint rules ---------------------------------------------------------------------------------------

    @staticmethod
    def _has_identifier(obj: JSON) -> bool:
        alias = obj.get("user_alias")
        alias_ok = (
            isinstance(alias, dict)
            and isinstance(alias.get("alias_name"), str)
            and isinstance(alias.get("alias_label"), str)
        )
        return alias_ok or any(
            isinstance(obj.get(k), str) and obj.get(k) for k in ("external_id", "braze_id", "email", "phone")
        )

    @staticmethod
    def _bad_keys(mapping: JSON) -> str | None:
        for key, value in mapping.items():
            if not key or len(key) > MAX_STRING or key.startswith("$"):
                return f"'{key[:40]}' is not a valid key"
            if isinstance(value, str) and len(value) > MAX_STRING:
                return f"the value of '{key[:40]}' is longer than {MAX_STRING} characters"
        return None

    def _check_attributes(self, obj: JSON) -> str | None:
        custom = {
            k: v
            for k, v in obj.items()
            if k not in ("external_id", "user_alias", "braze_id", "_update_existing_only", "_merge_objects")
        }
        return self._bad_keys(custom)

    def _check_event(self, obj: JSON) -> str | None:
        if not isinstance(obj.get("name"), str) or not obj["name"]:
            return "'name' is required"
        if not isinstance(obj.get("time"), str) or not obj["time"]:
            return "'time' is required"
        properties = obj.get("properties", {})
        if not isinstance(properties, dict):
            return "'properties' is not valid"
        if "time" in properties or "event_name" in properties:
            return "'time' and 'event_name' are reserved property names"
        return self._bad_keys(properties)

    def _check_purchase(self, obj: JSON) -> str | None:
        if not isinstance(obj.get("product_id"), str) or not obj["product_id"] or len(obj["product_id"]) > MAX_STRING:
            return "'product_id' is not valid"
        currency = obj.get("currency")
        if not (isinstance(currency, str) and len(currency) == 3 and currency.isalpha()):
            return "'currency' is not valid"
        price = obj.get("price")
        if isinstance(price, bool) or not isinstance(price, (int, float)):
            return "'price' is not valid"
        quantity = obj.get("quantity", 1)
        if isinstance(quantity, bool) or not isinstance(quantity, int) or not 1 <= quantity <= 100:
            return "'quantity' is not valid"
        if not isinstance(obj.get("time"), str):
            return "'time' is required"
        return self._bad_keys(obj.get("properties") or {})

    def _track(self, body: JSON, now: float) -> tuple[int, JSON]:
        arrays: dict[str, Any] = {name: body[name] for name in TRACK_ARRAYS if body.get(name) is not None}
        if any(not isinstance(v, list) for v in arrays.values()):
            return 400, {"message": "'attributes', 'events' and 'purchases' must be arrays"}
        sizes = {name: len(v) for name, v in arrays.items()}
        rule = self.faults.track_rule
        too_many = (
            any(n > 75 for n in sizes.values())
            if rule == "per-array-75"
            else sum(sizes.values()) > (50 if rule == "total-50" else 75)
        )
        if too_many:
            return 400, {"message": "Max Input Length Exceeded"}
        for event in arrays.get("events", []):
            if isinstance(event, dict) and event.get("name") in self.faults.reject_permanently:
                return 400, {"message": f"the event name '{event.get('name')}' is blacklisted"}
        errors: list[JSON] = []
        accepted: list[Stored] = []
        checks = {"attributes": self._check_attributes, "events": self._check_event, "purchases": self._check_purchase}
        for name, items in arrays.items():
            for index, obj in enumerate(items):
                problem = (
                    IDENTIFIER_REQUIRED
                    if not isinstance(obj, dict) or not self._has_identifier(obj)
                    else checks[name](obj)
                )
                if problem is not None:
                    errors.append({"type": problem, "input_array": name, "index": index})
                else:
                    accepted.append(Stored(name, obj, now))
        if not accepted:
            return 400, {"message": NOTHING_VALID, "errors": errors}
        self.stored.extend(accepted)
        answer: JSON = {"message": "success"}
        for name in TRACK_ARRAYS:
            if name in arrays:
                answer[f"{name}_processed"] = sum(1 for s in accepted if s.kind == name)
        if errors:
            answer["errors"] = errors
        return 201, answer

    def _identify(self, body: JSON, now: float) -> tuple[int, JSON]:
        aliases = body.get("aliases_to_identify")
        if not isinstance(aliases, list) or not aliases or len(aliases) > 50:
            return 400, {"message": "'aliases_to_identify' must hold 1 to 50 entries"}
        processed = 0
        for entry in aliases:
            if (
                isinstance(entry, dict)
                and isinstance(entry.get("external_id"), str)
                and self._has_identifier({"user_alias": entry.get("user_alias")})
            ):
                self.stored.append(Stored("aliases_identified", entry, now))
                processed += 1
        return 201, {"aliases_processed": processed, "message": "success"}

    def _merge(self, body: JSON, now: float) -> tuple[int, JSON]:
        updates = body.get("merge_updates")
        if not isinstance(updates, list) or not updates or len(updates) > 50:
            return 400, {"message": "'merge_updates' must hold 1 to 50 entries"}
        for update in updates:
            if (
                not isinstance(update, dict)
                or not isinstance(update.get("identifier_to_merge"), dict)
                or not isinstance(update.get("identifier_to_keep"), dict)
            ):
                return 400, {"message": "each merge update needs identifier_to_merge and identifier_to_keep"}
        self.stored.extend(Stored("merges", update, now) for update in updates)
        return 202, {"message": "success"}

    def _delete(self, body: JSON, now: float) -> tuple[int, JSON]:
        ids = body.get("external_ids")
        if not isinstance(ids, list) or not ids or len(ids) > 50:
            return 400, {"message": "'external_ids' must hold 1 to 50 ids"}
        self.stored.extend(Stored("deletions", {"external_id": i}, now) for i in ids)
        return 202, {"deleted": len(ids)}

    def _subscription(self, body: JSON, now: float) -> tuple[int, JSON]:
        groups = body.get("subscription_groups")
        if not isinstance(groups, list) or not groups:
            return 400, {"message": "'subscription_groups' is required"}
        for group in groups:
            if not isinstance(group, dict) or group.get("subscription_state") not in ("subscribed", "unsubscribed"):
                return 400, {"message": "'subscription_state' must be subscribed or unsubscribed"}
            if "emails" in group and "phones" in group:
                return 400, {"message": "emails and phones cannot be sent together"}
            if any(len(group.get(k) or []) > 50 for k in ("emails", "phones", "external_ids")):
                return 400, {"message": "at most 50 users per subscription group entry"}
        self.stored.extend(Stored("subscriptions", group, now) for group in groups)
        return 201, {"message": "success"}


def _make_handler(simulator: BrazeSimulator) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self) -> None:
            super().setup()
            # Headers and body leave in separate writes: without this, Nagle's algorithm and delayed ACKs add
            # 40 ms to every keep-alive request.
            self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def log_message(self, format: str, *args: Any) -> None:  # quiet: tests and the demo print their own
            return

        def _send(self, status: int, body: JSON | str, headers: JSON | None = None) -> None:
            payload = (json.dumps(body) if not isinstance(body, str) else body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(payload)

        def do_GET(self) -> None:
            if self.path.startswith("/_sim/requests"):
                with simulator.lock:
                    self._send(200, {"requests": list(simulator.requests)})
            elif self.path.startswith("/_sim/objects"):
                with simulator.lock:
                    self._send(
                        200, {"objects": [{"kind": s.kind, "object": s.obj, "at": s.at} for s in simulator.stored]}
                    )
            elif self.path.startswith("/_sim/stats"):
                self._send(200, simulator.stats())
            else:
                self._send(404, {"message": "Not Found"})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            if self.path == "/_sim/faults":
                simulator.set_faults(json.loads(raw or b"{}"))
                self._send(200, asdict(simulator.faults))
                return
            if self.path == "/_sim/reset":
                simulator.reset()
                self._send(200, {"reset": True})
                return
            status, body, headers, delay = simulator.handle(self.path, self.headers.get("Authorization"), raw)
            if delay:
                time.sleep(delay)
            if status is None:
                self.close_connection = True
                with contextlib.suppress(OSError):
                    self.connection.shutdown(socket.SHUT_RDWR)
                return
            self._send(status, body, headers)

    return Handler


class SimulatorServer:
    """The simulator on a loopback port, in a background thread."""

    def __init__(self, simulator: BrazeSimulator | None = None, host: str = "127.0.0.1", port: int = 0) -> None:
        self.simulator = simulator or BrazeSimulator()
        self.host = host
        self.httpd = ThreadingHTTPServer((host, port), _make_handler(self.simulator))
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="braze-simulator", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.httpd.server_address[1]}"

    def start(self) -> SimulatorServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def main() -> None:
    parser = argparse.ArgumentParser(description="Braze REST API simulator")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=4000)
    parser.add_argument("--api-key", default="local-braze-key")
    args = parser.parse_args()
    server = SimulatorServer(BrazeSimulator(args.api_key), args.host, args.port)
    print(f"Braze simulator on {server.url}", flush=True)
    try:
        server.httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.httpd.server_close()


if __name__ == "__main__":
    main()
