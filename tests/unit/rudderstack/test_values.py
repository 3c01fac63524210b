"""Identifiers are bounded in UTF-8 bytes, and the state table's ids never reach DynamoDB's key limit."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rudder_braze.adapters.aws.state import item_id
from rudder_braze.errors import EventError
from rudder_braze.limits import DYNAMODB_MAX_PARTITION_KEY_BYTES, MAX_IDENTIFIER_BYTES
from rudder_braze.rudderstack.validation import validate_event


def alias(message_id: str) -> dict[str, str]:
    return {"type": "alias", "userId": "u-1", "previousId": "u-0", "messageId": message_id}


def test_an_identifier_is_measured_in_utf8_bytes_not_characters() -> None:
    validate_event(alias("€" * (MAX_IDENTIFIER_BYTES // 3)))  # 1,023 bytes: fine
    with pytest.raises(EventError) as refused:
        validate_event(alias("€" * 1014))  # 1,014 characters, 3,042 bytes
    assert refused.value.path == "$.messageId" and "3042 bytes" in refused.value.reason


@given(st.text(min_size=1, max_size=3000))
def test_no_identifier_makes_a_state_id_over_dynamodbs_key_limit(identifier: str) -> None:
    for kind in ("pending", "progress", "done", "fp"):
        made = item_id(kind, identifier)
        assert len(made.encode("utf-8", "surrogatepass")) <= DYNAMODB_MAX_PARTITION_KEY_BYTES
        assert made.startswith(f"{kind}#")


def test_short_ids_stay_readable_and_long_ones_are_digests() -> None:
    assert item_id("pending", "u:user-1") == "pending#u:user-1"
    long = item_id("progress", "€" * 1014)
    assert long.startswith("progress#sha256:") and len(long) == len("progress#sha256:") + 64
