"""``supportDedup`` around a delivery: what is stripped before sending, what is remembered after."""

from __future__ import annotations

from rudder_braze.delivery.dedup import fingerprint
from rudder_braze.usecases.attribute_dedup import AttributeDedup
from tests.fakes.events import event
from tests.fakes.stores import MemoryFingerprints


def test_dedup_remembers_only_what_braze_accepted() -> None:
    store = MemoryFingerprints()
    dedup = AttributeDedup(store)
    first = [event("m1", "a", plan="pro"), event("m2", "b", plan="pro")]
    round_ = dedup.strip(first)
    dedup.remember(round_, ["m1"])  # b's write failed: b stays unknown
    assert set(store.items) == {"ext:a"} and store.items["ext:a"]["plan"] == fingerprint("pro")
    again = [event("m3", "a", plan="pro", seats=2), event("m4", "b", plan="pro")]
    dedup.strip(again)
    assert again[0].requests[0].body["attributes"] == [{"external_id": "a", "seats": 2}]
    assert again[1].requests[0].body["attributes"] == [{"external_id": "b", "plan": "pro"}]
