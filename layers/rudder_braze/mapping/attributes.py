"""A user's traits → Braze attributes: the standard-attribute table, nested operations, Braze's field limits."""

from __future__ import annotations

from typing import Any

from rudder_braze.config import BrazeSettings
from rudder_braze.errors import EventError
from rudder_braze.mapping.data import load_json
from rudder_braze.mapping.jsvalues import truthy

JSON = dict[str, Any]


def _load_trait_table() -> tuple[tuple[tuple[str, str, str | None, str, bool], ...], frozenset[str], dict[str, str]]:
    table = load_json("standard_attributes.json")
    rows = []
    for row in table["attributes"]:
        head, _, tail = row["trait"].partition(".")
        rows.append((row["attribute"], head, tail or None, row.get("convert", ""), bool(row.get("keep_null"))))
    genders = {alias: code for code, aliases in table["gender"].items() for alias in aliases}
    return tuple(rows), frozenset(table["not_copied"]), genders


_STANDARD_ATTRIBUTES, _NOT_COPIED_TRAITS, _GENDERS = _load_trait_table()


def traits_of(event: JSON, context: JSON) -> tuple[JSON, str]:
    traits = event.get("traits")
    if truthy(traits) and isinstance(traits, dict):
        return traits, "$.traits"
    traits = context.get("traits")
    if isinstance(traits, dict):
        return traits, "$.context.traits"
    return {}, "$.context.traits"


def _standard_value(convert: str, value: Any, where: str) -> Any:
    if convert == "email":
        if not isinstance(value, str):
            raise EventError("Invalid email, email must be a valid string", where)
        return value.lower()
    if convert == "gender":
        return _GENDERS.get(value.lower()) if isinstance(value, str) else None
    return value


def _nested_operations(value: JSON, attributes: JSON, properties: JSON, where: str) -> JSON:
    """Trait objects holding ``update`` / ``remove`` / ``add`` → Braze ``$update`` / ``$remove`` / ``$add``."""
    update, remove, add = value.get("update"), value.get("remove"), value.get("add")
    result = {} if update is not None else dict(value)
    if update is not None:
        result["$update"] = [
            {
                "$identifier_key": key,
                "$identifier_value": item.get(key),
                "$new_object": {k: v for k, v in item.items() if k not in ("identifier", key)},
            }
            for key, item in _identified_items(update, f"{where}.update")
        ]
        merge = properties.get("mergeObjectsUpdateOperation")
        attributes["_merge_objects"] = merge if merge is not None else False
    if remove is not None:
        result["$remove"] = [
            {"$identifier_key": key, "$identifier_value": item.get(key)}
            for key, item in _identified_items(remove, f"{where}.remove")
        ]
    if add is not None:
        result["$add"] = add
    return result


def _identified_items(items: Any, where: str) -> list[tuple[str, JSON]]:
    if not isinstance(items, list):
        raise EventError("must be an array of objects", where)
    pairs = []
    for index, item in enumerate(items):
        key = item.get("identifier") if isinstance(item, dict) else None
        if not isinstance(key, str):
            raise EventError("must be an object with an 'identifier' naming its key field", f"{where}[{index}]")
        pairs.append((key, item))
    return pairs


def build_attributes(traits: JSON, where: str, settings: BrazeSettings, properties: JSON) -> JSON:
    """Traits → a Braze attributes object (without identifiers): the standard table, then every other trait."""
    attributes: JSON = {}
    for attribute, head, tail, convert, keep_null in _STANDARD_ATTRIBUTES:
        value = traits.get(head)
        if tail is not None:
            value = value.get(tail) if isinstance(value, dict) else None
        if value is None:
            if keep_null and head in traits:
                attributes[attribute] = None
        elif truthy(value):
            attributes[attribute] = _standard_value(convert, value, f"{where}.{head}")
    nested = settings.nested_array_operations
    for key, value in traits.items():
        if key in _NOT_COPIED_TRAITS:
            continue
        check_braze_field(key, value, where)
        if nested and isinstance(value, dict):
            attributes[key] = _nested_operations(value, attributes, properties, f"{where}.{key}")
        else:
            attributes[key] = value
    return attributes


BRAZE_MAX_STRING = 255


def check_braze_field(key: str, value: Any, where: str) -> None:
    """What Braze refuses in a custom attribute or a property, refused here with its path (docs/deviations.md D20):
    an empty key, a key over 255 characters or starting with ``$``, a string value over 255 characters."""
    if not key or len(key) > BRAZE_MAX_STRING or key[0] == "$":
        shown = key[:40] + ("…" if len(key) > 40 else "")
        raise EventError(f"Braze does not accept the key {shown!r} (empty, over 255 characters or starting with $)",
                         f"{where}.{shown}")  # fmt: skip
    if isinstance(value, str) and len(value) > BRAZE_MAX_STRING:
        raise EventError(f"Braze does not accept strings over 255 characters (got {len(value)})", f"{where}.{key}")
    if isinstance(value, dict):
        _check_nested_keys(value, f"{where}.{key}")


def _check_nested_keys(value: JSON, where: str) -> None:
    """Keys inside a nested object may hold neither ``.`` nor ``$``: one such key makes Braze drop every nested
    update of the whole request."""
    for key, inner in value.items():
        if "." in key or "$" in key:
            raise EventError(f"Braze does not accept '.' or '$' in the keys of a nested object ({key[:40]!r})",
                             f"{where}.{key[:40]}")  # fmt: skip
        if isinstance(inner, dict):
            _check_nested_keys(inner, f"{where}.{key}")
