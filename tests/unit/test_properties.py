"""No input, however malformed, makes the domain raise anything but its own errors."""

from __future__ import annotations

import contextlib
import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from rudder_braze.config import load_settings
from rudder_braze.errors import InputError
from rudder_braze.rudderstack.events import read_events
from rudder_braze.usecases.transform import pack_results, transform_events
from tests import strategies

ALL_OPTIONS = load_settings(
    {
        "enableNestedArrayOperations": True,
        "sendPurchaseEventWithExtraProperties": True,
        "useEcommerceRecommendedEvents": True,
        "supportDedup": True,
    }
)
PLAIN = load_settings({"enableSubscriptionGroupInGroupCall": True})

json_values = strategies.json_values()
keys = st.sampled_from(
    [
        "type",
        "userId",
        "anonymousId",
        "messageId",
        "event",
        "name",
        "traits",
        "context",
        "properties",
        "groupId",
        "previousId",
        "timestamp",
        "integrations",
        "products",
        "email",
        "gender",
        "address",
        "update",
        "add",
        "remove",
        "identifier",
        "externalId",
        "subscriptionState",
        "phone",
        "price",
        "quantity",
        "currency",
        "Braze",
        "alias",
    ]
)
types = st.sampled_from(["identify", "track", "page", "screen", "group", "alias", "Track", "other"])
# Event-like documents: the known keys at several levels, so that the mapping's deeper rules are reached.
event_like = st.recursive(
    json_values,
    lambda inner: st.dictionaries(keys | st.text(max_size=4), inner, max_size=6) | st.lists(inner, max_size=3),
    max_leaves=30,
)
events = st.builds(lambda kind, body: {**body, "type": kind} if isinstance(body, dict) else body, types, event_like)


def run_everything(documents: list[Any]) -> None:
    for options in (ALL_OPTIONS, PLAIN):
        results = transform_events(documents, options, fingerprints={})
        pack_results(results, options)
        for result in results:
            result.as_json()


@settings(max_examples=800)
@given(st.lists(events, max_size=4))
def test_any_event_like_json_gives_requests_or_an_event_error(documents: list[Any]) -> None:
    run_everything(documents)


@settings(max_examples=300)
@given(json_values)
def test_any_json_gives_events_or_an_input_error(document: Any) -> None:
    with contextlib.suppress(InputError):
        run_everything(read_events(json.dumps(document)))


@settings(max_examples=300)
@given(st.binary(max_size=200))
def test_any_bytes_give_events_or_an_input_error(data: bytes) -> None:
    with contextlib.suppress(InputError):
        run_everything(read_events(data))
