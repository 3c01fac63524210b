"""The Braze REST calls the bridge makes: their paths, and one call as a value."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

TRACK = "/users/track"
IDENTIFY = "/users/identify"
MERGE = "/users/merge"
SUBSCRIPTION = "/v2/subscription/status/set"
DELETE = "/users/delete"
# The identifier kinds a /users/delete request names (one kind per request, Braze's rule).
DELETE_KINDS = ("external_ids", "user_aliases")

PARTNER = "RudderStack"  # the ``partner`` Braze asks integrations to name in what they send


@dataclass(slots=True)
class BrazeRequest:
    """One Braze REST call: a path on the REST host and its JSON body (never a credential)."""

    path: str
    body: dict[str, Any]
    # The events this request carries (a packed request carries many) and, for /users/track, the events behind
    # each item of each array (more than one when a user's attributes were coalesced), so that Braze's per-item
    # errors can be traced back to the events they came from.
    message_ids: list[str] = field(default_factory=list)
    item_owners: dict[str, list[tuple[str, ...]]] = field(default_factory=dict)
