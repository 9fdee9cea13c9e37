"""Byte-reproducible gzip JSON-lines output and Goodreads date strings.

The gzip header carries no file name and mtime 0, so the same seed gives the same bytes. Compression runs on a
worker thread (zlib releases the GIL), overlapping with the formatting of the next block of lines.
"""

from __future__ import annotations

import gzip
import os
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

_BLOCK_CHARS = 4 << 20


class GzipLines:
    """Write text lines to `path` (gzip, level `level`) from the caller, compressing on one worker thread."""

    def __init__(self, path: Path, level: int = 3):
        self.path = Path(path)
        self._raw = open(self.path, "wb")
        self._gz = gzip.GzipFile(filename="", mode="wb", fileobj=self._raw, mtime=0, compresslevel=level)
        self._pool = ThreadPoolExecutor(max_workers=1)
        self._pending = None
        self._buf: list[str] = []
        self._size = 0
        self.lines = 0

    def write(self, line: str) -> None:
        self._buf.append(line)
        self._size += len(line)
        self.lines += 1
        if self._size >= _BLOCK_CHARS:
            self._flush()

    def _flush(self) -> None:
        data = ("\n".join(self._buf) + "\n").encode("utf-8") if self._buf else b""
        self._buf, self._size = [], 0
        if self._pending is not None:
            self._pending.result()
        self._pending = self._pool.submit(self._gz.write, data)

    def close(self) -> None:
        self._flush()
        self._pending.result()
        self._pool.shutdown()
        self._gz.close()
        self._raw.flush()
        os.fsync(self._raw.fileno())
        self._raw.close()

    def __enter__(self) -> GzipLines:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self._pool.shutdown(cancel_futures=True)
            self._raw.close()


class DateFormatter:
    """Goodreads dates ("Wed Jan 13 13:38:25 -0800 2010") from epoch seconds and a UTC offset in minutes."""

    def __init__(self):
        self._days: dict[int, tuple[str, str]] = {}
        self._hms = [f"{h:02d}:{m:02d}:{s:02d}" for h in range(24) for m in range(60) for s in range(60)]

    def __call__(self, t: int, offset_min: int) -> str:
        if t < 0:
            return ""
        local = t + offset_min * 60
        day, sec = divmod(local, 86400)
        parts = self._days.get(day)
        if parts is None:
            d = datetime.fromtimestamp(day * 86400, UTC)
            parts = self._days[day] = (d.strftime("%a %b %d"), str(d.year))
        sign = "-" if offset_min < 0 else "+"
        hh, mm = divmod(abs(offset_min), 60)
        return f"{parts[0]} {self._hms[sec]} {sign}{hh:02d}{mm:02d} {parts[1]}"


def hex_ids(rng: np.random.Generator, n: int) -> list[str]:
    """`n` random 32-hex-digit ids (Goodreads user and review ids)."""
    blob = rng.bytes(16 * n).hex()
    return [blob[32 * i: 32 * i + 32] for i in range(n)]
