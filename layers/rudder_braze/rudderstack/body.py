"""A request body as its sender wrote it: ``Content-Encoding`` undone, never past the size limit.

RudderStack's SDKs compress by default (the Python and Node SDKs send ``Content-Encoding: gzip``), and its gateway
takes gzip, deflate and identity. The inflated size is checked while inflating, so a small compressed body that
would inflate to gigabytes (a "gzip bomb") costs at most ``limit`` bytes of memory before it is refused.
"""

from __future__ import annotations

import zlib

from rudder_braze.errors import InputError

_CHUNK = 64 * 1024
# zlib's wbits: a gzip member, a zlib stream (RFC 9110's "deflate"), and raw deflate (what some clients send).
_GZIP, _ZLIB, _RAW_DEFLATE = 16 + zlib.MAX_WBITS, zlib.MAX_WBITS, -zlib.MAX_WBITS
SUPPORTED_ENCODINGS = ("gzip", "deflate", "identity")


class BodyError(InputError):
    """A body that cannot be decoded; ``status`` and ``code`` are what the webhook answers with."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code = status, code


def _too_large(limit: int) -> BodyError:
    return BodyError(413, "payload_too_large", f"the body inflates to more than {limit} bytes; the limit is {limit}")


def _inflate_stream(data: bytes, wbits: int, limit: int) -> tuple[bytes, bytes]:
    """Inflate one stream; ``(output, what follows the stream)``. Raises :class:`zlib.error` on a corrupt stream."""
    inflater = zlib.decompressobj(wbits)
    out = bytearray()
    pending = data
    while True:
        # max_length bounds the output of each call, so memory never goes past the limit (+1 to tell "over").
        chunk = inflater.decompress(pending, min(_CHUNK, limit + 1 - len(out)))
        out += chunk
        if len(out) > limit:
            raise _too_large(limit)
        pending = inflater.unconsumed_tail
        if inflater.eof:
            return bytes(out), inflater.unused_data
        if not pending and not chunk:
            raise zlib.error("the stream ends before its end marker")


def _gunzip(data: bytes, limit: int) -> bytes:
    """Every member of a gzip file (RFC 1952 allows several, one after the other)."""
    out = b""
    rest = data
    while rest:
        member, rest = _inflate_stream(rest, _GZIP, limit - len(out))
        out += member
    return out


def _inflate(data: bytes, limit: int) -> bytes:
    """RFC 9110's deflate is a zlib stream; raw deflate is tolerated, as most servers do."""
    try:
        out, rest = _inflate_stream(data, _ZLIB, limit)
    except zlib.error:
        out, rest = _inflate_stream(data, _RAW_DEFLATE, limit)
    if rest:
        raise zlib.error("data after the end of the stream")
    return out


def codings(content_encoding: str | None) -> list[str]:
    """The codings of a ``Content-Encoding`` header, in the order they were applied (lower-cased, no empties)."""
    if not content_encoding:
        return []
    return [part.strip().lower() for part in content_encoding.split(",") if part.strip()]


def decode_body(raw: bytes, content_encoding: str | None, limit: int) -> bytes:
    """Undo every coding of ``Content-Encoding`` (last applied first); the result is at most ``limit`` bytes."""
    applied = codings(content_encoding)
    unknown = [coding for coding in applied if coding not in ("gzip", "x-gzip", "deflate", "identity")]
    if unknown:
        raise BodyError(
            415,
            "unsupported_content_encoding",
            f"Content-Encoding {unknown[0]!r} is not supported; send {', '.join(SUPPORTED_ENCODINGS)}",
        )
    body = raw
    for coding in reversed(applied):
        if coding == "identity":
            continue
        name = "gzip" if coding in ("gzip", "x-gzip") else "deflate"
        try:
            body = _gunzip(body, limit) if name == "gzip" else _inflate(body, limit)
        except zlib.error as exc:
            raise BodyError(400, "invalid_compressed_body", f"the body is not a valid {name} stream ({exc})") from None
    if len(body) > limit:
        raise BodyError(413, "payload_too_large", f"the body is {len(body)} bytes; the limit is {limit}")
    return body
