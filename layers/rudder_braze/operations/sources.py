"""Where historical RudderStack events come from for ``rudder-braze replay``: JSON-lines files, gzipped or not, folders
of them, and ``s3://bucket/prefix`` (what RudderStack's S3 destination writes: gzipped JSON lines), in name order.
"""

from __future__ import annotations

import gzip
import io
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

_SUFFIXES = (".json", ".jsonl", ".ndjson", ".gz")


@dataclass(frozen=True)
class Source:
    name: str  # a path, or s3://bucket/key
    size: int  # bytes as stored (compressed for a .gz): what the progress bar counts
    opener: Callable[[], IO[bytes]]


@dataclass(frozen=True)
class Line:
    number: int  # 1-based, in the source
    event: Any = None
    error: str | None = None  # why the line is not an event


class _Counting(io.RawIOBase):
    """A stream that reports the bytes read from it (the stored bytes, before any decompression)."""

    def __init__(self, inner: IO[bytes], progress: Callable[[int], object]) -> None:
        self.inner, self.progress = inner, progress

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self.inner.read(len(buffer))
        buffer[: len(data)] = data
        self.progress(len(data))
        return len(data)

    def close(self) -> None:
        self.inner.close()
        super().close()


def _s3_sources(url: str, s3: Any) -> list[Source]:
    bucket, _, prefix = url.removeprefix("s3://").partition("/")
    found = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            key = obj["Key"]
            if key.endswith(_SUFFIXES):

                def opener(key: str = key) -> IO[bytes]:
                    body: IO[bytes] = s3.get_object(Bucket=bucket, Key=key)["Body"]
                    return body

                found.append(Source(f"s3://{bucket}/{key}", int(obj["Size"]), opener))
    return sorted(found, key=lambda source: source.name)


def _file_source(path: Path) -> Source:
    return Source(str(path), path.stat().st_size, lambda: path.open("rb"))


def find_sources(specs: list[str], s3: Callable[[], Any]) -> list[Source]:
    """Every source the arguments name, each once, in the order given (a folder's or prefix's in name order)."""
    found: list[Source] = []
    for spec in specs:
        if spec.startswith("s3://"):
            found += _s3_sources(spec, s3())
            continue
        path = Path(spec)
        if path.is_dir():
            found += [_file_source(p) for p in sorted(path.rglob("*")) if p.is_file() and p.name.endswith(_SUFFIXES)]
        elif path.is_file():
            found.append(_file_source(path))
        else:
            raise FileNotFoundError(f"{spec}: no such file or folder")
    return list({source.name: source for source in found}.values())


def read_lines(source: Source, progress: Callable[[int], object], skip: int = 0) -> Iterator[Line]:
    """The source's lines as events, after the first ``skip`` (already sent); blank lines are not events."""
    raw = _Counting(source.opener(), progress)
    stream: io.BufferedIOBase = gzip.GzipFile(fileobj=raw) if source.name.endswith(".gz") else io.BufferedReader(raw)
    with stream:
        for number, text in enumerate(stream, start=1):
            if number <= skip or not text.strip():
                continue
            try:
                event = json.loads(text)
            except ValueError as exc:
                yield Line(number, error=f"not JSON: {exc}")
                continue
            if not isinstance(event, dict):
                yield Line(number, error="not a JSON object")
                continue
            yield Line(number, event)
