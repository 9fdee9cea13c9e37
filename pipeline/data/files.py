"""Small file helpers shared by the data steps: content hashes, the generator's marker file, atomic writes."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from pipeline.data.raw import RawDataError

_UMASK = os.umask(0o022)  # read once, at import (os.umask can only be read by setting it), and restored
os.umask(_UMASK)

# Written by pipeline.data.generate next to synthetic raw files: scale, seed, parameters, sha256 of each file.
MARKER_FILE = "GENERATED.json"


def sha256_file(path: Path) -> str:
    """The sha256 hex digest of a file's bytes, read in 1 MB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def read_marker(raw_dir: Path) -> dict | None:
    """The generator's GENERATED.json in `raw_dir`, or None when there is none."""
    path = Path(raw_dir) / MARKER_FILE
    if not path.is_file():
        return None
    try:
        marker = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise RawDataError(f"{path}: not valid JSON ({e}); delete it if the raw files are real") from None
    if not isinstance(marker, dict):
        raise RawDataError(f"{path}: expected a JSON object; delete it if the raw files are real")
    return marker


def fsync_path(path: Path) -> None:
    """fsync a file or a folder (a folder's fsync makes a rename in it durable)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(path: Path, *, suffix: str = ".tmp") -> Iterator[Path]:
    """The one atomic-write recipe: yield a temp path in `path`'s folder for the caller to write; on success it is
    fsynced and moved into place with os.replace (a reader sees the old file or the new one, never a part), and
    the folder is fsynced; on failure the temp file is removed and nothing else changes. `suffix` ends the temp
    name (a writer that checks extensions, like Keras' ``.keras``, needs its own)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; the file gets the mode a plain open() would give
        fsync_path(tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    fsync_path(path.parent)


def write_atomic(path: Path, write: Callable[[BinaryIO], object]) -> None:
    """Write `path` atomically (`atomic_path`) with `write` filling the temp file."""
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        write(f)


def write_text_atomic(path: Path, text: str) -> None:
    write_atomic(path, lambda f: f.write(text.encode("utf-8")))
