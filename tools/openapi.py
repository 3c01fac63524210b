"""Generates ``docs/openapi.yaml`` (OpenAPI 3.1, written as JSON, which is valid YAML) from the package's JSON
Schemas, so the document and the validator cannot drift: ``tests/unit/test_openapi.py`` fails when the committed
file differs from what this script writes. Run ``python tools/openapi.py`` after changing a schema."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from rudder_braze.limits import MAX_DELETIONS
from rudder_braze.mapping.transform import SUPPORTED_TYPES
from rudder_braze.rudderstack.validation import EVENT_TYPES, load_schema

ROOT = Path(__file__).resolve().parent.parent
TARGET = ROOT / "docs" / "openapi.yaml"


def _schema_component(name: str) -> dict[str, Any]:
    schema = load_schema(name)
    schema.pop("$schema", None)
    for part in schema.get("allOf", []):
        part.pop("$schema", None)
        part.pop("$id", None)
    if name != "batch":
        # The generic type check: the per-type schemas constrain events of their own type only.
        schema["allOf"][1] = {"if": {"properties": {"type": {"enum": _spellings(name)}}}, "then": schema["allOf"][1]}
    return schema


def _spellings(name: str) -> list[str]:
    return sorted({name, name.upper(), name.capitalize()})


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _answers(sdk_route: bool) -> dict[str, Any]:
    """The answers of a POST route; on the SDK routes a queued event is a 200, as RudderStack's gateway answers."""
    error = {"$ref": "#/components/schemas/Error"}
    result = {"$ref": "#/components/schemas/Result"}
    answers = {
        "401": {"description": "missing or wrong token", "content": _json(error)},
        "403": {"description": "the source address is outside AllowedSourceCidrs", "content": _json(error)},
        "413": {
            "description": "body over the size limit (inflated or not), or too many events",
            "content": _json(error),
        },
        "415": {
            "description": "body is not JSON (or not UTF-8), Content-Type is not JSON (/v1/webhook only), or the "
            "Content-Encoding is not gzip, deflate or identity",
            "content": _json(error),
        },
        "400": {
            "description": "invalid events (each listed) or an unreadable shape or compressed stream; valid events "
            "were still delivered",
            "content": _json({"oneOf": [result, error]}),
        },
        "503": {
            "description": "an accepted event could be neither delivered nor queued: retry later",
            "content": _json({"oneOf": [result, error]}),
        },
    }
    if sdk_route:
        answers["200"] = {
            "description": "every event delivered, queued, a duplicate, filtered or dead-lettered",
            "content": _json(result),
        }
    else:
        answers["200"] = {
            "description": "delivered (or duplicate, filtered, or dead-lettered)",
            "content": _json(result),
        }
        answers["202"] = {
            "description": "accepted and queued (for retry, or in buffered mode for the next delivery batch)",
            "content": _json(result),
        }
    return answers


def _deletions(post: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
    """``/v1/deletions``: its body, its answer, and its statuses (the shared ones but 400, 200 and 202)."""
    text = {"type": "string", "minLength": 1}
    alias = {"type": "object", "required": ["alias_name", "alias_label"],
             "properties": {"alias_name": text, "alias_label": text}}  # fmt: skip
    components["Deletions"] = {
        "type": "object",
        "description": f"Braze users to remove: {MAX_DELETIONS} at most in all, one at least",
        "anyOf": [{"required": ["userIds"]}, {"required": ["aliases"]}],
        "properties": {
            "userIds": {"type": "array", "items": text, "maxItems": MAX_DELETIONS},
            "aliases": {"type": "array", "items": alias, "maxItems": MAX_DELETIONS},
        },
    }
    counts = ("received", "deleted", "already_deleted", "queued", "dead_lettered")
    outcomes = ["deleted", "already_deleted", "queued", "dead_lettered", "in_progress", "not_queued"]
    components["DeletionResult"] = {
        "type": "object",
        "required": [*counts, "results"],
        "properties": {
            **{name: {"type": "integer", "minimum": 0} for name in counts},
            "results": {"type": "array", "items": {"type": "object", "required": ["outcome"], "properties": {
                "userId": {"type": "string"}, "alias": alias, "outcome": {"enum": outcomes}}}},
            "code": {"type": "string"},
            "message": {"type": "string"},
            "error": {"type": "string"},
        },
    }  # fmt: skip
    result = _json({"$ref": "#/components/schemas/DeletionResult"})
    error = {"$ref": "#/components/schemas/Error"}
    answers = {status: answer for status, answer in _answers(sdk_route=False).items() if status not in ("200", "202")}
    answers |= {
        "200": {"description": "every user deleted now, or deleted by an earlier call (already_deleted)",
                "content": result},
        "202": {"description": "some users wait in the retry queue (Braze throttled or failed)", "content": result},
        "400": {"description": "an unreadable body; `path` names the first bad place", "content": _json(error)},
        "503": {"description": "some users could be neither deleted nor queued, or another call is deleting them: "
                "call again (nothing is deleted twice)", "content": _json({"oneOf": [result, error]})},
    }  # fmt: skip
    return {
        "post": {
            **post,
            "operationId": "deletions",
            "summary": "Delete users from Braze (/users/delete), exactly once per user",
            "requestBody": {"required": True, "content": _json({"$ref": "#/components/schemas/Deletions"})},
            "responses": answers,
        }
    }


_CONTENT_ENCODING = {
    "name": "Content-Encoding",
    "in": "header",
    "required": False,
    "description": "gzip (RudderStack's SDKs' default), deflate or identity; the inflated body is held to the "
    "same size limit",
    "schema": {"type": "string", "enum": ["gzip", "x-gzip", "deflate", "identity"]},
}


def document() -> dict[str, Any]:
    event = {"oneOf": [{"$ref": f"#/components/schemas/{name.capitalize()}"} for name in EVENT_TYPES]}
    components: dict[str, Any] = {name.capitalize(): _schema_component(name) for name in EVENT_TYPES}
    components["Event"] = {"type": "object", **event}
    components["Result"] = {
        "type": "object",
        "required": ["received", "delivered", "queued", "dead_lettered", "duplicates", "filtered", "rejected"],
        "properties": {
            **{
                k: {"type": "integer", "minimum": 0}
                for k in ("received", "delivered", "queued", "dead_lettered", "duplicates", "filtered")
            },
            "rejected": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["index", "messageId", "path", "reason"],
                    "properties": {
                        "index": {"type": "integer"},
                        "messageId": {"type": ["string", "null"]},
                        "path": {"type": "string"},
                        "reason": {"type": "string"},
                    },
                },
            },
            "partial_errors": {
                "type": "object",
                "additionalProperties": {"type": "array", "items": {"type": "string"}},
            },
            "in_progress": {"type": "array", "items": {"type": "string"}},
            "code": {"type": "string"},
            "message": {"type": "string"},
            "error": {"type": "string"},
        },
    }
    components["Error"] = {
        "type": "object",
        "required": ["code", "message", "error"],
        "properties": {"code": {"type": "string"}, "message": {"type": "string"}, "error": {"type": "string"}},
    }
    webhook_body = {
        "oneOf": [
            {"$ref": "#/components/schemas/Event"},
            {"type": "array", "items": {"$ref": "#/components/schemas/Event"}},
        ]
    }
    batch_body = {
        "type": "object",
        "required": ["batch"],
        "properties": {"batch": {"type": "array", "items": {"$ref": "#/components/schemas/Event"}}},
    }
    post: dict[str, Any] = {"security": [{"bearer": []}, {"basic": []}], "parameters": [_CONTENT_ENCODING]}
    paths: dict[str, Any] = {
        "/v1/webhook": {
            "post": {
                **post,
                "operationId": "webhook",
                "summary": "One event or an array of events",
                "requestBody": {"required": True, "content": _json(webhook_body)},
                "responses": _answers(sdk_route=False),
            }
        },
        "/v1/batch": {
            "post": {
                **post,
                "operationId": "batch",
                "summary": "RudderStack HTTP API batch",
                "requestBody": {"required": True, "content": _json(batch_body)},
                "responses": _answers(sdk_route=True),
            }
        },
        "/health": {
            "get": {
                "operationId": "health",
                "security": [],
                "responses": {
                    "200": {
                        "description": "up",
                        "content": _json(
                            {
                                "type": "object",
                                "required": ["status"],
                                "properties": {"status": {"const": "ok"}},
                                "additionalProperties": False,
                            }
                        ),
                    }
                },
            }
        },
    }
    paths["/v1/deletions"] = _deletions(post, components)
    for kind in sorted(SUPPORTED_TYPES):
        paths[f"/v1/{kind}"] = {
            "post": {
                **post,
                "operationId": kind,
                "summary": f"RudderStack HTTP API {kind}",
                "requestBody": {"required": True, "content": _json({"type": "object"})},
                "responses": _answers(sdk_route=True),
            }
        }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "rudder-braze webhook",
            "version": "1",
            "description": "RudderStack events in, Braze REST calls out. Generated from the JSON Schemas "
            "in layers/rudder_braze/schemas by tools/openapi.py. An event is known by its messageId: one the bridge "
            "has already accepted is counted in `duplicates` and not sent again, whatever its body (the first body "
            "wins). Every answer other than a 200 or 202 carries `code` and `message`.",
        },
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "basic": {"type": "http", "scheme": "basic"},
            },
        },
    }


def render() -> str:
    return json.dumps(document(), indent=2, sort_keys=False) + "\n"


if __name__ == "__main__":
    TARGET.write_text(render(), encoding="utf-8")
    print(f"wrote {TARGET.relative_to(ROOT)}", file=sys.stderr)
