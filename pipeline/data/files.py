"""Small file helpers shared by the data steps: content hashes, the generator's marker file (and which files it
vouches for), atomic writes."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import stat
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

import psutil

from pipeline.data.raw import RawDataError

_UMASK = os.umask(0o022)  # read once, at import (os.umask can only be read by setting it), and restored
os.umask(_UMASK)

# A temp file untouched this long whose writer is gone is removed by the next write of its target.
STALE_TEMP_SECONDS = 60.0
_START_SLACK_SECONDS = 2.0

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
    except (ValueError, RecursionError) as e:  # also bad UTF-8, an integer past the digit limit, deep nesting
        raise RawDataError(f"{path}: not valid JSON ({e}); delete it if the raw files are real") from None
    if not isinstance(marker, dict):
        raise RawDataError(f"{path}: expected a JSON object; delete it if the raw files are real")
    return marker


def foreign_files(raw_dir: Path, names: Iterable[str]) -> list[str]:
    """The files of `names` present in `raw_dir` that the generator did not write, each as "PATH (why)".

    A file is the generator's only when GENERATED.json lists it with the sha256 the file has now; anything else
    (no or unreadable marker, not listed, other bytes) may be real data that must not be overwritten.
    """
    raw_dir = Path(raw_dir)
    present = [name for name in names if (raw_dir / name).exists()]
    if not present:
        return []
    try:
        marker = read_marker(raw_dir)
    except RawDataError:
        marker, no_marker = None, f"{MARKER_FILE} there is unreadable"
    else:
        no_marker = f"there is no {MARKER_FILE} next to it"
    if marker is None:
        return [f"{raw_dir / name} ({no_marker})" for name in present]
    listed = marker.get("files")
    listed = listed if isinstance(listed, dict) else {}
    foreign = []
    for name in present:
        path = raw_dir / name
        if not path.is_file():
            foreign.append(f"{path} (not a regular file)")
        elif name not in listed:
            foreign.append(f"{path} ({MARKER_FILE} does not list it)")
        elif sha256_file(path) != listed[name]:
            foreign.append(f"{path} (its sha256 is not the one {MARKER_FILE} records)")
    return foreign


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
    fsynced, given the mode of the file it replaces (or the umask default for a new file), moved into place with
    os.replace (a reader sees the old file or the new one, never a part), and the folder is fsynced; on failure the
    temp file is removed and nothing else changes. `suffix` ends the temp name (a writer that checks extensions,
    like Keras' ``.keras``, needs its own).

    The temp file is ``.{name}.{pid}.{random}{suffix}``: hidden, so no loader (they open final names) takes it for
    data, and named by its writer, so one left by a killed process is removed by the next write of the same
    target (`sweep_stale_temps`)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sweep_stale_temps(path, suffix=suffix)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=temp_prefix(path), suffix=suffix)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, _target_mode(path))  # mkstemp makes 0600
        fsync_path(tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    fsync_path(path.parent)


def _target_mode(path: Path) -> int:
    """The permission bits the written file gets: those of the file it replaces (a chmod'ed 0640 stays 0640),
    else what a plain open() would give."""
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        return 0o666 & ~_UMASK


def temp_prefix(path: Path) -> str:
    """The start of this process's temp names for `path`: ``.{name}.{pid}.`` (see `atomic_path`)."""
    return f".{Path(path).name}.{os.getpid()}."


def sweep_stale_temps(path: Path, *, suffix: str = ".tmp") -> list[Path]:
    """Remove the temp files (or folders) of `path` that a dead writer left in its folder; return them.

    A temp ``.{name}.{pid}.{random}{suffix}`` is stale when both hold:
    - it was not modified for STALE_TEMP_SECONDS: a folder shared with another host (or pid namespace) may
      hold a live writer's temp whose pid means nothing here, and a live writer keeps touching its file;
    - its writer is gone (`writer_alive`).
    Anything else (other names, live or recent writers) is left alone. Never raises: sweeping is best effort."""
    path = Path(path)
    pattern = re.compile(rf"\.{re.escape(path.name)}\.(\d+)\.[a-z0-9_]+{re.escape(suffix)}")
    removed = []
    try:
        entries = [entry for entry in os.scandir(path.parent) if pattern.fullmatch(entry.name)]
    except OSError:
        return removed
    now = time.time()
    for entry in entries:
        try:
            st = entry.stat(follow_symlinks=False)
            folder = stat.S_ISDIR(st.st_mode)
            if now - _last_modified(entry.path, st, folder) < STALE_TEMP_SECONDS:
                continue
            if writer_alive(int(pattern.fullmatch(entry.name).group(1)), st):
                continue
            if folder:
                shutil.rmtree(entry.path)
            else:
                os.unlink(entry.path)
        except OSError:
            continue
        removed.append(Path(entry.path))
    return removed


def _last_modified(path: str, st: os.stat_result, folder: bool) -> float:
    """mtime, for a folder the newest of its own and its entries' (a big file being written does not touch the
    folder's)."""
    if not folder:
        return st.st_mtime
    with os.scandir(path) as entries:
        return max([st.st_mtime, *(e.stat(follow_symlinks=False).st_mtime for e in entries)])


def running_since(pid: int) -> float | None:
    """When process `pid` on this host started (epoch seconds, psutil), or None when there is no such process or
    it has exited (a zombie not yet collected). psutil.AccessDenied when it exists but cannot be looked at. The
    one liveness check of this project's processes: temp-file writers here, retrain jobs in the run registry."""
    try:
        process = psutil.Process(pid)
        if process.status() in (psutil.STATUS_ZOMBIE, psutil.STATUS_DEAD):
            return None
        return process.create_time()
    except psutil.NoSuchProcess:
        return None


def writer_alive(pid: int, st: os.stat_result) -> bool:
    """Whether process `pid`, named in a temp file or folder whose stat is `st`, may still be writing it: it
    exists on this host, is no zombie, and started before the temp was last touched (a later start means the pid
    was reused). True when it cannot be told."""
    if pid == os.getpid():
        return True  # another thread of this process may be writing it
    try:
        started = running_since(pid)
    except (psutil.AccessDenied, OSError):
        return True
    if started is None:
        return False
    # ctime counts too: moving a folder aside touches only its ctime. The slack covers psutil's start time,
    # which is derived from the boot time in whole seconds.
    return started <= max(st.st_mtime, st.st_ctime) + _START_SLACK_SECONDS


def write_atomic(path: Path, write: Callable[[BinaryIO], object]) -> None:
    """Write `path` atomically (`atomic_path`) with `write` filling the temp file."""
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        write(f)


def write_text_atomic(path: Path, text: str) -> None:
    write_atomic(path, lambda f: f.write(text.encode("utf-8")))
