"""Request bodies as their senders compressed them: gzip, deflate, identity, bombs and corrupt streams."""

from __future__ import annotations

import gzip
import zlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rudder_braze.rudderstack.body import BodyError, codings, decode_body

LIMIT = 1000


@given(st.binary(max_size=LIMIT))
def test_every_supported_coding_gives_back_the_bytes_sent(raw: bytes) -> None:
    raw_deflate = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    assert decode_body(raw, None, LIMIT) == raw
    assert decode_body(raw, "identity", LIMIT) == raw
    assert decode_body(gzip.compress(raw), "gzip", LIMIT) == raw
    assert decode_body(gzip.compress(raw), "x-gzip", LIMIT) == raw
    assert decode_body(zlib.compress(raw), "deflate", LIMIT) == raw
    assert decode_body(raw_deflate.compress(raw) + raw_deflate.flush(), "Deflate", LIMIT) == raw
    assert decode_body(gzip.compress(zlib.compress(raw)), "deflate, gzip", LIMIT) == raw


def test_several_gzip_members_are_one_body() -> None:
    assert decode_body(gzip.compress(b'{"a":') + gzip.compress(b"1}"), "gzip", LIMIT) == b'{"a":1}'


def test_a_gzip_bomb_is_refused_without_inflating_past_the_limit() -> None:
    bomb = gzip.compress(b"0" * 50_000_000)  # 50 MB of zeros in about 50 KB
    assert len(bomb) < 100_000
    with pytest.raises(BodyError) as refused:
        decode_body(bomb, "gzip", 4 * 1024 * 1024)
    assert refused.value.status == 413 and "limit" in str(refused.value)


def test_an_inflated_body_one_byte_over_the_limit_is_413_and_at_the_limit_is_read() -> None:
    assert decode_body(gzip.compress(b"x" * LIMIT), "gzip", LIMIT) == b"x" * LIMIT
    with pytest.raises(BodyError) as refused:
        decode_body(gzip.compress(b"x" * (LIMIT + 1)), "gzip", LIMIT)
    assert refused.value.status == 413


@pytest.mark.parametrize(
    ("data", "coding"),
    [
        (b"not gzip at all", "gzip"),
        (gzip.compress(b'{"type": "track"}')[:-6], "gzip"),  # cut short: no end marker
        (gzip.compress(b"{}") + b"garbage", "gzip"),
        (b"\x78\x9c broken", "deflate"),
        (zlib.compress(b"{}") + b"trailing", "deflate"),
    ],
)
def test_a_corrupt_stream_is_400_naming_the_coding(data: bytes, coding: str) -> None:
    with pytest.raises(BodyError) as refused:
        decode_body(data, coding, LIMIT)
    assert refused.value.status == 400 and refused.value.code == "invalid_compressed_body"
    assert f"not a valid {coding} stream" in str(refused.value)


def test_an_unknown_coding_is_415_naming_it() -> None:
    with pytest.raises(BodyError) as refused:
        decode_body(b"{}", "gzip, br", LIMIT)
    assert refused.value.status == 415 and "'br'" in str(refused.value)


def test_codings_are_read_in_the_order_applied() -> None:
    assert codings(" GZIP , deflate,") == ["gzip", "deflate"]
    assert codings(None) == codings("") == []
