"""The simulated Braze workspace: it answers each request as Braze would and keeps every object it accepted."""

from __future__ import annotations

import json
import math
import random
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from local.braze_simulator.faults import DEFAULT_LIMITS, LIMIT_GROUP, Faults, RateWindow
from local.braze_simulator.rules import (
    NOTHING_VALID,
    TRACK_ARRAYS,
    has_identifier,
    object_problem,
    strict_json,
    track_problem,
)

JSON = dict[str, Any]
# /users/delete's identifier lists, and the field of a stored object each names.
DELETE_KINDS = {"external_ids": "external_id", "user_aliases": "user_alias", "braze_ids": "braze_id"}


@dataclass
class Stored:
    kind: str  # attributes | events | purchases | aliases_identified | merges | deletions | subscriptions
    obj: JSON
    at: float


class BrazeSimulator:
    def __init__(self, api_key: str = "local-braze-key", faults: Faults | None = None) -> None:
        self.api_key = api_key
        self.lock = threading.Lock()
        self.faults = faults or Faults()
        self.random = random.Random(self.faults.seed)
        self.requests: list[JSON] = []
        self.stored: list[Stored] = []
        self.windows: dict[str, RateWindow] = {}
        self.endpoints: dict[str, Callable[[JSON, float], tuple[int, JSON]]] = {
            "/users/track": self._track,
            "/users/identify": self._identify,
            "/users/merge": self._merge,
            "/users/delete": self._delete,
            "/v2/subscription/status/set": self._subscription,
        }

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
        group = LIMIT_GROUP.get(path, path)
        limit, seconds = self.faults.rate_limits.get(
            group, self.faults.rate_limits.get(path, DEFAULT_LIMITS.get(group, (250000, 3600.0)))
        )
        window = self.windows.setdefault(group, RateWindow(limit, seconds))
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
            record: JSON = {"path": path, "at": now, "bytes": len(raw)}
            self.requests.append(record)
            status, body, headers = self._answer(path, authorization, raw, record, now)
            record["status"] = status
            delay = self.faults.latency_ms / 1000 + (self.faults.timeout_seconds if status == "timeout" else 0.0)
            if isinstance(status, str):  # dropped, or held past the client's timeout: no answer
                return None, "", {}, delay
            return status, body, headers, delay

    def _answer(
        self, path: str, authorization: str | None, raw: bytes, record: JSON, now: float
    ) -> tuple[int | str, JSON | str, JSON]:
        if authorization != f"Bearer {self.api_key}":
            return 401, {"message": "Invalid API Key"}, {}
        allowed, headers = self._limit(path, now)
        refusal = self._refusal(allowed, self.random.random(), now)
        if refusal is not None:
            return refusal[0], {"message": refusal[1]}, headers
        body = strict_json(raw)
        record["body"] = body if body is not None else raw.decode("utf-8", "replace")
        status, answer = self._endpoint(path, body, now)
        return status, answer, headers

    def _refusal(self, allowed: bool, roll: float, now: float) -> tuple[int | str, str] | None:
        if now < self.faults.outage_until:
            return 503, "Service Unavailable"
        if not allowed:
            return 429, "Rate limit exceeded"
        # An injected 429 (other traffic sharing the workspace, say) keeps the headers telling the window's true
        # state, so a client pacing on them is not told to stop for the rest of the window.
        return self.faults.injected(roll, self.random)

    def _endpoint(self, path: str, body: Any, now: float) -> tuple[int, JSON]:
        if body is None:
            return 400, {"message": "Malformed JSON"}
        if not isinstance(body, dict):
            return 400, {"message": "The request body must be a JSON object"}
        endpoint = self.endpoints.get(path)
        if endpoint is None:
            return 404, {"message": "Not Found"}
        return endpoint(body, now)

    # --- endpoints --------------------------------------------------------------------------------------------

    def _track(self, body: JSON, now: float) -> tuple[int, JSON]:
        arrays: dict[str, Any] = {name: body[name] for name in TRACK_ARRAYS if body.get(name) is not None}
        problem = track_problem(arrays, self.faults.track_rule, self.faults.reject_permanently)
        if problem is not None:
            return 400, {"message": problem}
        errors: list[JSON] = []
        accepted: list[Stored] = []
        for name, items in arrays.items():
            for index, obj in enumerate(items):
                refused = object_problem(name, obj)
                if refused is not None:
                    errors.append({"type": refused, "input_array": name, "index": index})
                else:
                    accepted.append(Stored(name, obj, now))
        if not accepted:
            return 400, {"message": NOTHING_VALID, "errors": errors}
        self.stored.extend(accepted)
        answer: JSON = {"message": "success"}
        for name in arrays:
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
                and has_identifier({"user_alias": entry.get("user_alias")})
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
        """Braze's ``/users/delete``: one identifier kind per request, up to 50. The users' stored objects go; a
        record of each deletion stays (kind ``deletions``)."""
        kinds = [kind for kind in DELETE_KINDS if kind in body]
        if len(kinds) != 1:
            return 400, {"message": f"name exactly one of {', '.join(DELETE_KINDS)}"}
        (kind,) = kinds
        identifiers = body[kind]
        if not isinstance(identifiers, list) or not identifiers or len(identifiers) > 50:
            return 400, {"message": f"'{kind}' must hold 1 to 50 identifiers"}
        field = DELETE_KINDS[kind]
        if not all(has_identifier({field: identifier}) for identifier in identifiers):
            return 400, {"message": f"every entry of '{kind}' must be a {field}"}
        gone = [json.dumps(identifier, sort_keys=True) for identifier in identifiers]
        self.stored = [
            item
            for item in self.stored
            if item.kind == "deletions" or json.dumps(item.obj.get(field), sort_keys=True) not in gone
        ]
        self.stored.extend(Stored("deletions", {field: identifier}, now) for identifier in identifiers)
        return 202, {"deleted": len(identifiers), "message": "success"}

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
