"""The seed tutorial's processing, done right: raw Goodreads files -> books, users and four labelled splits.

Steps (the seed's definitions; shared/reference/goodreads.md):

1. Books with ``min_book_ratings <= ratings_count <= max_book_ratings`` get a dense ``book_idx`` in file order,
   and ``first_author_name`` from the optional authors file (the author id where it has no name or is missing).
2. Interactions are read in file order; those of kept books are kept up to the first ``max_interactions`` (reading
   stops there, at the end of the chunk that holds the cut).
3. Users with ``min_user_interactions..max_user_interactions`` kept interactions get a dense ``user_idx`` in order
   of first appearance; a user's ``book_idxs`` are the books of all their kept interactions, rated or not,
   deduplicated in file order. It is stored once per user, in users.parquet, never copied onto rows.
4. Labelled rows are the kept users' rated interactions (rating != 0): ``rating`` = 1 for 4-5 stars, 0 for 1-3.
   ``review_text`` comes from the reviews file on (user, book), the first review of a pair; null when none.
5. Users are split by a seeded permutation: test, then dev, then val, the rest train. Train has no rating column.

The output folder is written whole into a temporary sibling folder and swapped in for the old one in one step,
so a failed or killed prepare leaves the previous output as it was (see "Writing the folder atomically").
manifest.json records the inputs (sizes, sha256), parameters and counts; its ``fingerprint`` lets an unchanged
second call reuse the folder.

>>> manifest = prepare("data/raw", "data/processed", PrepareParams(seed=1))      # doctest: +SKIP
>>> sorted(manifest["counts"]["labelled_rows"])                                   # doctest: +SKIP
['dev', 'test', 'train', 'val']
"""

from __future__ import annotations

import ctypes
import errno
import functools
import hashlib
import json
import logging
import os
import re
import shutil
import stat
import time
import uuid
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.data.files import (
    MARKER_FILE,
    fsync_path,
    read_marker,
    sha256_file,
    sweep_stale_temps,
    temp_prefix,
    writer_alive,
)
from pipeline.data.raw import (
    DEFAULT_RAW_DIR,
    LoadStats,
    iter_authors,
    iter_interactions,
    iter_reviews,
    raw_path,
    read_books,
)
from pipeline.data.rawformat import AUTHORS_FILE, INTERACTIONS_FILE, OPTIONAL_FILES, RAW_FILES, REVIEWS_FILE
from pipeline.data.textstats import text_stats

__all__ = [
    "DEFAULT_OUT_DIR",
    "FORMAT_VERSION",
    "MANIFEST_FILE",
    "PREPARE_VERSION",
    "SPLITS",
    "TABLE_FILES",
    "PrepareParams",
    "prepare",
    "recover_output",
]

log = logging.getLogger(__name__)

PREPARE_VERSION = 5  # bump when prepare's output changes for the same inputs and params (invalidates caches)
FORMAT_VERSION = 1  # the layout of the prepared folder, checked by pipeline.data.dataset
DEFAULT_OUT_DIR = Path("data/processed")
MANIFEST_FILE = "manifest.json"
SPLITS = ("train", "dev", "val", "test")
TABLE_FILES = {"books": "books.parquet", "users": "users.parquet", **{s: f"{s}.parquet" for s in SPLITS}}

_LIST = pa.list_(pa.string())
BOOKS_SCHEMA = pa.schema([
    ("book_idx", pa.int32()), ("book_id", pa.string()), ("title", pa.string()),
    ("title_without_series", pa.string()), ("first_author", pa.string()), ("first_author_name", pa.string()),
    ("authors", _LIST),
    ("author_roles", _LIST), ("average_rating", pa.float64()), ("ratings_count", pa.int64()),
    ("text_reviews_count", pa.int64()), ("description", pa.string()), ("is_ebook", pa.bool_()),
    ("language_code", pa.string()), ("country_code", pa.string()), ("series", _LIST), ("similar_books", _LIST),
    ("shelf_names", _LIST), ("shelf_counts", pa.list_(pa.int64())), ("num_pages", pa.int64()),
    ("publication_year", pa.int64()), ("format", pa.string()), ("publisher", pa.string()),
    ("image_url", pa.string()), ("url", pa.string()),
])


@dataclass(frozen=True)
class PrepareParams:
    """The knobs of prepare, defaults as in the seed tutorial; a bad value raises ValueError naming the field."""

    max_interactions: int = 5_000_000
    min_book_ratings: int = 100
    max_book_ratings: int = 15_000
    min_user_interactions: int = 25
    max_user_interactions: int = 200
    test_frac: float = 0.05
    dev_frac: float = 0.10
    val_frac: float = 0.05
    seed: int = 0

    def __post_init__(self) -> None:
        minimum = {"max_interactions": 1, "min_book_ratings": 0, "max_book_ratings": 0,
                   "min_user_interactions": 1, "max_user_interactions": 1, "seed": 0}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name.endswith("_frac"):
                if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < 1:
                    raise ValueError(f"{f.name} must be a number in [0, 1), got {value!r}")
            elif isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum[f.name]:
                raise ValueError(f"{f.name} must be an integer >= {minimum[f.name]}, got {value!r}")
        for low, high in (("min_book_ratings", "max_book_ratings"),
                          ("min_user_interactions", "max_user_interactions")):
            if getattr(self, low) > getattr(self, high):
                raise ValueError(f"{low} must be <= {high}, got {getattr(self, low)} > {getattr(self, high)}")
        total = self.test_frac + self.dev_frac + self.val_frac
        if total >= 1:
            raise ValueError(f"test_frac + dev_frac + val_frac must be < 1 (train needs users), got {total:g}")

    def to_dict(self) -> dict[str, Any]:
        return {k: (int(v) if isinstance(v, np.integer) else v) for k, v in asdict(self).items()}


def prepare(raw_dir: str | Path = DEFAULT_RAW_DIR, out_dir: str | Path = DEFAULT_OUT_DIR,
            params: PrepareParams | None = None, *, skip_bad_lines: bool = False, force: bool = False,
            progress: bool = False) -> dict[str, Any]:
    """Prepare `raw_dir`'s raw files into `out_dir` (or reuse it); return the manifest.

    The returned manifest is the one in out_dir/manifest.json plus ``reused``: True when an existing output with
    the same fingerprint (inputs, GENERATED.json, params, skip_bad_lines, PREPARE_VERSION) was returned as it
    was. `force` recomputes regardless. Raises RawDataError for bad raw data, ValueError for a bad out_dir.
    """
    started = time.perf_counter()
    params = params if params is not None else PrepareParams()
    raw_dir, out_dir = Path(raw_dir), Path(out_dir)
    recover_output(out_dir)  # before the cache check: a swap cut short by a kill may have left the output aside
    paths = {name: raw_path(raw_dir, name) for name in RAW_FILES}
    paths.update({name: raw_dir / name for name in OPTIONAL_FILES if (raw_dir / name).is_file()})
    inputs = {name: {"size": path.stat().st_size, "sha256": sha256_file(path)} for name, path in paths.items()}
    marker = read_marker(raw_dir)
    fingerprint = _fingerprint({"inputs": {n: i["sha256"] for n, i in inputs.items()}, "generator": marker,
                                "params": params.to_dict(), "skip_bad_lines": skip_bad_lines,
                                "prepare_version": PREPARE_VERSION})
    if not force:
        cached = _cached_manifest(out_dir, fingerprint)
        if cached is not None:
            log.info("reusing cached prepared data in %s (same inputs and parameters; force recomputes)", out_dir)
            return {**cached, "reused": True}

    tables, counts, bad_lines = _build(raw_dir, params, skip_bad_lines, progress)
    manifest: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "prepare_version": PREPARE_VERSION,
        "source": _source(marker, inputs),
        "params": params.to_dict(),
        "skip_bad_lines": skip_bad_lines,
        "counts": counts,
        "bad_lines": bad_lines,
        "inputs": inputs,
        "tables": TABLE_FILES,
        "fingerprint": fingerprint,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    if manifest["source"] == "synthetic":
        manifest["generator"] = marker
    manifest["seconds"] = round(time.perf_counter() - started, 3)
    _write_folder(out_dir, tables, manifest)
    log.info("prepared %s in %.1f s", out_dir, manifest["seconds"])
    return {**manifest, "reused": False}


# --------------------------------------------------------------------------------------------------------------
# Inputs, fingerprint and cache


def _fingerprint(content: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()


def _source(marker: dict | None, inputs: dict[str, dict]) -> str:
    """"synthetic" when GENERATED.json is there and every file hash it lists (if any) matches, else "real"."""
    if marker is None:
        return "real"
    listed = marker.get("files")
    if isinstance(listed, dict):
        changed = [name for name, digest in listed.items() if name in inputs and inputs[name]["sha256"] != digest]
        if changed:
            log.warning("%s lists other hashes for %s: treating the raw files as real", MARKER_FILE,
                        ", ".join(changed))
            return "real"
    return "synthetic"


def _cached_manifest(out_dir: Path, fingerprint: str) -> dict | None:
    try:
        manifest = json.loads((out_dir / MANIFEST_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if (not isinstance(manifest, dict) or manifest.get("fingerprint") != fingerprint
            or manifest.get("format_version") != FORMAT_VERSION):
        return None
    if not all((out_dir / name).is_file() for name in TABLE_FILES.values()):
        return None
    return manifest


# --------------------------------------------------------------------------------------------------------------
# The processing


def _build(raw_dir: Path, params: PrepareParams, skip_bad_lines: bool,
           progress: bool) -> tuple[dict[str, pa.Table], dict[str, Any], dict[str, int]]:
    books, book_stats = read_books(raw_dir, skip_bad_lines=skip_bad_lines, progress=progress)
    books_total = len(books)
    duplicated = books["book_id"].duplicated()  # a repeated book_id keeps its first line
    books = books[~duplicated.to_numpy()]
    in_range = books["ratings_count"].between(params.min_book_ratings, params.max_book_ratings).to_numpy()
    books = books[in_range].reset_index(drop=True)
    books.insert(0, "book_idx", np.arange(len(books), dtype=np.int32))
    names, n_named, author_stats = _first_author_names(raw_dir, books["first_author"], skip_bad_lines, progress)
    books.insert(books.columns.get_loc("first_author") + 1, "first_author_name", names)
    book_index = pd.Index(books["book_id"])
    n_books = len(books)

    kept, inter_stats = _read_kept_interactions(raw_dir, book_index, params, skip_bad_lines, progress)
    users = _select_users(kept, params)
    labelled = _labelled_rows(users)
    review_text, review_stats = _join_reviews(raw_dir, users["user_ids"], book_index, labelled, skip_bad_lines,
                                              progress)
    split_of_user = _split_users(len(users["user_ids"]), params)

    tables: dict[str, pa.Table] = {
        "books": pa.Table.from_pandas(books[BOOKS_SCHEMA.names], schema=BOOKS_SCHEMA, preserve_index=False),
        "users": pa.table({
            "user_idx": pa.array(np.arange(len(users["user_ids"]), dtype=np.int32)),
            "user_id": pa.array(users["user_ids"], type=pa.string()),
            "split": pa.array(np.asarray(SPLITS, dtype=object)[split_of_user], type=pa.string()),
            "book_idxs": pa.ListArray.from_arrays(pa.array(users["offsets"], type=pa.int32()),
                                                  pa.array(users["book_values"], type=pa.int32())),
        }),
    }
    row_split = split_of_user[labelled["user_idx"]]
    rows_per_split, users_per_split = {}, {}
    for code, split in enumerate(SPLITS):
        take = np.flatnonzero(row_split == code)
        columns = {
            "user_idx": pa.array(labelled["user_idx"][take], type=pa.int32()),
            "book_idx": pa.array(labelled["book_idx"][take], type=pa.int32()),
            "review_text": pa.array(review_text[take], type=pa.string()),
        }
        if split != "train":
            columns["rating"] = pa.array(labelled["rating"][take], type=pa.int8())
        tables[split] = pa.table(columns)
        rows_per_split[split] = len(take)
        users_per_split[split] = int((split_of_user == code).sum())

    n_labelled = len(labelled["rating"])
    counts = {
        "books_total": books_total,
        "books_duplicate_ids": int(duplicated.sum()),
        "books_kept": n_books,
        "interactions_read": kept["read"],
        "interactions_kept": len(kept["book_idx"]),
        "users_seen": len(kept["user_ids"]),
        "users_kept": len(users["user_ids"]),
        "user_book_pairs": len(users["book_values"]),
        "labelled_rows": rows_per_split,
        "users_per_split": users_per_split,
        "reviews_read": review_stats.lines - review_stats.bad_lines,
        "reviews_joined": int(pd.notna(review_text).sum()),
        "books_with_author_name": n_named,
        "positive_share": round(float(labelled["rating"].mean()), 6) if n_labelled else None,
        # The kept users' interactions by star rating (0 = shelved without a rating), for the overview's chart.
        "stars": {str(s): int(n) for s, n in enumerate(np.bincount(users["rating"], minlength=6)[:6])},
        # How varied the joined reviews are (pipeline.data.textstats), for the overview's fidelity figures: a few
        # seconds at seed scale, so counted once here rather than on a page.
        "text": text_stats(review_text).to_dict(),
    }
    read = (book_stats, inter_stats, review_stats) + ((author_stats,) if author_stats is not None else ())
    bad_lines = {s.path.name: s.bad_lines for s in read}
    return tables, counts, bad_lines


def _first_author_names(raw_dir: Path, first_author: pd.Series, skip_bad_lines: bool,
                        progress: bool) -> tuple[np.ndarray, int, LoadStats | None]:
    """Each book's first author's name (whitespace runs collapsed; the first line of an id wins), else the id
    itself, None for a book without authors; how many books got a name; the authors file's stats (None when the
    optional file is not there). The real file lists all of Goodreads' authors: only the names needed are kept."""
    ids = first_author.to_numpy(dtype=object)
    if not (raw_dir / AUTHORS_FILE).is_file():
        return ids, 0, None
    stats = LoadStats(raw_path(raw_dir, AUTHORS_FILE))
    wanted = pd.Index(pd.unique(first_author.dropna()))
    found: dict[str, str] = {}
    for chunk in iter_authors(raw_dir, columns=("author_id", "name"), skip_bad_lines=skip_bad_lines,
                              progress=progress, stats=stats):
        take = np.flatnonzero(wanted.get_indexer(chunk["author_id"]) >= 0)
        for author_id, name in zip(chunk["author_id"].to_numpy()[take], chunk["name"].to_numpy()[take],
                                   strict=True):
            if author_id not in found and (name := " ".join(name.split())):
                found[author_id] = name
    named = first_author.map(found)
    has_name = named.notna().to_numpy()
    return np.where(has_name, named.to_numpy(dtype=object), ids), int(has_name.sum()), stats


def _read_kept_interactions(raw_dir: Path, book_index: pd.Index, params: PrepareParams, skip_bad_lines: bool,
                            progress: bool) -> tuple[dict[str, Any], LoadStats]:
    """The first `max_interactions` interactions of kept books: user codes (order of first appearance)."""
    stats = LoadStats(raw_path(raw_dir, INTERACTIONS_FILE))
    codes_of: dict[str, int] = {}  # user_id -> code, in order of first appearance
    parts: dict[str, list[np.ndarray]] = {"user": [], "book_idx": [], "rating": []}
    n_kept = n_read = 0
    chunks = iter_interactions(raw_dir, columns=("user_id", "book_id", "rating"), skip_bad_lines=skip_bad_lines,
                               progress=progress, stats=stats)
    for chunk in chunks:
        book_idx = book_index.get_indexer(chunk["book_id"])
        take = np.flatnonzero(book_idx >= 0)
        room = params.max_interactions - n_kept
        full = len(take) >= room
        if full:
            take = take[:room]
            n_read += int(take[-1]) + 1
        else:
            n_read += len(chunk)
        local, uniques = pd.factorize(chunk["user_id"].to_numpy()[take])
        global_codes = np.fromiter((codes_of.setdefault(u, len(codes_of)) for u in uniques), dtype=np.int64,
                                   count=len(uniques))
        parts["user"].append(global_codes[local])
        parts["book_idx"].append(book_idx[take].astype(np.int32))
        parts["rating"].append(chunk["rating"].to_numpy()[take])
        n_kept += len(take)
        if full:
            chunks.close()  # stop reading the file: the rest is past the cut
            break
    kept = {k: np.concatenate(v) if v else np.zeros(0, np.int64) for k, v in parts.items()}
    kept["user_ids"] = list(codes_of)
    kept["read"] = n_read
    return kept, stats


def _select_users(kept: dict[str, Any], params: PrepareParams) -> dict[str, Any]:
    """Users with min..max kept interactions, their rows and their deduplicated book_idxs (CSR offsets/values)."""
    per_user = np.bincount(kept["user"], minlength=len(kept["user_ids"]))
    keep = (per_user >= params.min_user_interactions) & (per_user <= params.max_user_interactions)
    user_idx_of = np.where(keep, np.cumsum(keep) - 1, -1)
    row_user = user_idx_of[kept["user"]]
    mine = row_user >= 0
    user_idx, book_idx, rating = row_user[mine], kept["book_idx"][mine], kept["rating"][mine]
    n_users = int(keep.sum())

    pair = user_idx.astype(np.int64) * (int(book_idx.max()) + 1 if len(book_idx) else 1) + book_idx
    first = ~pd.Series(pair).duplicated().to_numpy()
    order = np.argsort(user_idx[first], kind="stable")  # grouped by user, file order within a user
    book_values = book_idx[first][order]
    offsets = np.zeros(n_users + 1, dtype=np.int64)
    np.cumsum(np.bincount(user_idx[first], minlength=n_users), out=offsets[1:])
    user_ids = np.asarray(kept["user_ids"], dtype=object)[keep]
    return {"user_ids": user_ids, "user_idx": user_idx, "book_idx": book_idx, "rating": rating,
            "offsets": offsets, "book_values": book_values}


def _labelled_rows(users: dict[str, Any]) -> dict[str, np.ndarray]:
    rated = users["rating"] != 0
    return {"user_idx": users["user_idx"][rated].astype(np.int32),
            "book_idx": users["book_idx"][rated].astype(np.int32),
            "rating": (users["rating"][rated] >= 4).astype(np.int8)}


def _join_reviews(raw_dir: Path, user_ids: np.ndarray, book_index: pd.Index, labelled: dict[str, np.ndarray],
                  skip_bad_lines: bool, progress: bool) -> tuple[np.ndarray, LoadStats]:
    """Each labelled row's review text (object array, None where the pair has no review); first review wins."""
    stats = LoadStats(raw_path(raw_dir, REVIEWS_FILE))
    user_index = pd.Index(user_ids)
    n_books = max(len(book_index), 1)
    keys, texts = [], []
    for chunk in iter_reviews(raw_dir, columns=("user_id", "book_id", "review_text"),
                              skip_bad_lines=skip_bad_lines, progress=progress, stats=stats):
        u = user_index.get_indexer(chunk["user_id"])
        b = book_index.get_indexer(chunk["book_id"])
        take = np.flatnonzero((u >= 0) & (b >= 0))
        keys.append(u[take].astype(np.int64) * n_books + b[take])
        texts.append(chunk["review_text"].to_numpy()[take])
    review_keys = np.concatenate(keys)
    review_texts = np.concatenate(texts)
    first = ~pd.Series(review_keys).duplicated().to_numpy()
    review_keys, review_texts = review_keys[first], review_texts[first]
    row_keys = labelled["user_idx"].astype(np.int64) * n_books + labelled["book_idx"]
    position = pd.Index(review_keys).get_indexer(row_keys)
    joined = np.full(len(row_keys), None, dtype=object)
    found = position >= 0
    joined[found] = review_texts[position[found]]
    return joined, stats


def _split_users(n_users: int, params: PrepareParams) -> np.ndarray:
    """SPLITS code per user_idx: a seeded permutation gives test, then dev, then val their shares; the rest train."""
    split = np.zeros(n_users, dtype=np.int8)  # 0 = train
    permutation = np.random.default_rng(params.seed).permutation(n_users)
    start = 0
    for name, frac in (("test", params.test_frac), ("dev", params.dev_frac), ("val", params.val_frac)):
        size = round(frac * n_users)
        split[permutation[start:start + size]] = SPLITS.index(name)
        start += size
    return split


# --------------------------------------------------------------------------------------------------------------
# Writing the folder atomically
#
# The new folder is written whole as a hidden sibling ``.{name}.{pid}.{random}.tmp``, then swapped with the old
# one in a single step (Linux renameat2 RENAME_EXCHANGE): a process killed at any point leaves either the old
# folder or the new one under `out_dir`, never a mix and never nothing. Where the OS or filesystem cannot exchange
# (not Linux, some network filesystems) the swap falls back to two renames (old aside as ``...old``, new in);
# a kill between them leaves no `out_dir` for a moment, and the next prepare puts the old folder back
# (`recover_output`). Leftover staging or old folders of dead writers are removed by the next prepare.

_STAGING, _ASIDE = ".tmp", ".old"
_AT_FDCWD = -100
_RENAME_EXCHANGE = 2  # linux/fs.h
_NO_EXCHANGE = {errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP}


def recover_output(out_dir: str | Path) -> bool:
    """Put back the previous output of a prepare that was killed between the two renames of the fallback swap
    (so `out_dir` is missing and its old folder is still aside); True when it did. Then remove staging and aside
    folders that dead prepares left (`sweep_stale_temps`)."""
    out_dir = Path(out_dir)
    restored = False
    if not out_dir.exists() and out_dir.parent.is_dir():
        aside = re.compile(rf"\.{re.escape(out_dir.name)}\.(\d+)\.[a-z0-9_]+{re.escape(_ASIDE)}")
        candidates = []
        for entry in out_dir.parent.iterdir():
            match = aside.fullmatch(entry.name)
            if (match and (entry / MANIFEST_FILE).is_file()
                    and not writer_alive(int(match.group(1)), entry.stat())):
                candidates.append(entry)
        if candidates:
            newest = max(candidates, key=lambda p: p.stat().st_ctime)  # the rename aside set its ctime
            os.replace(newest, out_dir)
            fsync_path(out_dir.parent)
            log.warning("restored %s from %s, left by a prepare that was killed while swapping it", out_dir,
                        newest.name)
            restored = True
    for suffix in (_STAGING, _ASIDE):
        sweep_stale_temps(out_dir, suffix=suffix)
    return restored


def _write_folder(out_dir: Path, tables: dict[str, pa.Table], manifest: dict[str, Any]) -> None:
    """Write every table and the manifest into a temporary sibling folder, then swap it in for `out_dir`."""
    if out_dir.exists() and not out_dir.is_dir():
        raise ValueError(f"{out_dir} is a file, not a folder: choose another --out")
    if out_dir.exists() and any(out_dir.iterdir()) and not (out_dir / MANIFEST_FILE).exists():
        raise ValueError(f"{out_dir} is not empty and holds no {MANIFEST_FILE}: refusing to replace a folder "
                         "that prepare did not write; choose another --out")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = _sibling(out_dir, _STAGING)
    tmp.mkdir()
    try:
        if out_dir.is_dir():
            os.chmod(tmp, stat.S_IMODE(out_dir.stat().st_mode))  # the folder keeps its mode
        for name, table in tables.items():
            pq.write_table(table, tmp / TABLE_FILES[name])
        (tmp / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
        for path in tmp.iterdir():
            fsync_path(path)
        fsync_path(tmp)
        _swap_in(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _sibling(out_dir: Path, suffix: str) -> Path:
    """A hidden name beside `out_dir` naming this process (see files.atomic_path's temp names)."""
    return out_dir.parent / f"{temp_prefix(out_dir)}{uuid.uuid4().hex[:12]}{suffix}"


def _swap_in(new: Path, out_dir: Path) -> None:
    """Move `new` to `out_dir` in one step; afterwards `new` holds the previous output, which is deleted."""
    if not out_dir.exists():
        os.replace(new, out_dir)
        fsync_path(out_dir.parent)
        return
    try:
        _exchange(new, out_dir)
    except OSError as e:
        if e.errno not in _NO_EXCHANGE:
            raise
        _swap_by_renames(new, out_dir)
        return
    fsync_path(out_dir.parent)
    shutil.rmtree(new, ignore_errors=True)


def _swap_by_renames(new: Path, out_dir: Path) -> None:
    """The fallback swap: the existing `out_dir` is moved aside first and deleted only once `new` is there."""
    old = _sibling(out_dir, _ASIDE)
    os.replace(out_dir, old)
    try:
        os.replace(new, out_dir)
    except BaseException:
        os.replace(old, out_dir)
        raise
    fsync_path(out_dir.parent)
    shutil.rmtree(old, ignore_errors=True)


def _exchange(a: Path, b: Path) -> None:
    """Atomically swap two existing paths (renameat2 with RENAME_EXCHANGE); OSError with errno EINVAL, ENOSYS or
    ENOTSUP where the platform or filesystem cannot."""
    renameat2 = getattr(_libc(), "renameat2", None)
    if renameat2 is None:
        raise OSError(errno.ENOSYS, "renameat2 is not available here")
    renameat2.argtypes = (ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint)
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code), str(a), None, str(b))


@functools.cache
def _libc() -> ctypes.CDLL | None:
    try:
        return ctypes.CDLL(None, use_errno=True)  # the C library the interpreter is linked with
    except OSError:
        return None
