"""Small file facts shared by the data steps: content hashes and the generator's marker file."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from .raw import RawDataError

# Written by pipeline.generate next to synthetic raw files: scale, seed, parameters, sha256 of each file.
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
