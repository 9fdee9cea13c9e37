"""Load a prepared folder (written by pipeline.data.prepare) into pandas, and summarise it.

Each user's book set is stored once, in ``users.book_idxs``; `PreparedData.book_idxs_for` hands a split's rows
their users' sets by reference, and `PreparedData.user_books_csr` gives all sets as two flat numpy arrays for
vectorized work, so nothing copies a user's books onto every row.

>>> data = load_prepared("data/processed")                                       # doctest: +SKIP
>>> dev = data.splits["dev"]                                                     # doctest: +SKIP
>>> dev.assign(book_idxs=data.book_idxs_for(dev)).head()                         # doctest: +SKIP
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from pipeline.data.prepare import DEFAULT_OUT_DIR, FORMAT_VERSION, MANIFEST_FILE, SPLITS, TABLE_FILES

__all__ = ["PreparedData", "author_names", "load_prepared", "summarize"]

_HINT = "run `python -m pipeline prepare` first"
RATED_SPLITS = tuple(s for s in SPLITS if s != "train")


@dataclass(frozen=True)
class PreparedData:
    """A prepared dataset: books (by book_idx), users (by user_idx), the four splits and the manifest."""

    books: pd.DataFrame
    users: pd.DataFrame
    splits: dict[str, pd.DataFrame]
    manifest: dict[str, Any]
    path: Path

    def book_idxs_for(self, rows: pd.DataFrame) -> pd.Series:
        """Each row's user's book_idxs (int32 arrays shared with `users`, not copies), aligned with `rows`."""
        sets = self.users["book_idxs"].to_numpy()[rows["user_idx"].to_numpy()]
        return pd.Series(sets, index=rows.index, name="book_idxs")

    @cached_property
    def user_books_csr(self) -> tuple[np.ndarray, np.ndarray]:
        """(offsets, values): user u's book_idxs are values[offsets[u]:offsets[u + 1]] (int64, int32 arrays)."""
        sets = self.users["book_idxs"].to_numpy()
        lengths = np.fromiter((len(s) for s in sets), dtype=np.int64, count=len(sets))
        offsets = np.zeros(len(sets) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        values = np.concatenate(sets).astype(np.int32, copy=False) if len(sets) else np.zeros(0, np.int32)
        return offsets, values


def load_prepared(processed_dir: str | Path = DEFAULT_OUT_DIR) -> PreparedData:
    """Read a prepared folder; FileNotFoundError (saying how to make one) when it or a file is missing."""
    folder = Path(processed_dir)
    manifest_path = folder / MANIFEST_FILE
    if not manifest_path.is_file():
        from pipeline.data.prepare import recover_output  # a prepare killed mid-swap may have set it aside

        recover_output(folder)
    if not manifest_path.is_file():
        what = "does not exist" if not folder.exists() else f"has no {MANIFEST_FILE}"
        raise FileNotFoundError(f"{folder} {what}: {_HINT}")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except ValueError as e:
        raise ValueError(f"{manifest_path}: not valid JSON ({e}): {_HINT} --force") from None
    if manifest.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"{folder} holds prepared data of format {manifest.get('format_version')!r}, this code "
                         f"reads format {FORMAT_VERSION}: {_HINT} --force")
    missing = [name for name in TABLE_FILES.values() if not (folder / name).is_file()]
    if missing:
        raise FileNotFoundError(f"{folder} lacks {', '.join(missing)}: {_HINT} --force")
    tables = {key: pq.read_table(folder / name).to_pandas() for key, name in TABLE_FILES.items()}
    users = tables.pop("users")
    books = tables.pop("books")
    if not np.array_equal(users["user_idx"].to_numpy(), np.arange(len(users))):
        raise ValueError(f"{folder / TABLE_FILES['users']}: user_idx is not 0..n-1 in order: {_HINT} --force")
    return PreparedData(books=books, users=users, splits={s: tables[s] for s in SPLITS}, manifest=manifest,
                        path=folder)


def author_names(books: pd.DataFrame) -> np.ndarray:
    """The books' first-author names for display: ``first_author_name``, or the author id in a books table made
    before names were prepared (or by hand, in a test)."""
    column = "first_author_name" if "first_author_name" in books.columns else "first_author"
    return books[column].to_numpy()


def summarize(prepared: PreparedData) -> dict[str, Any]:
    """What the dataset holds, for the CLI and the workbench's overview.

    positive_share is over the rows that carry a rating (dev, val, test); review_share over all labelled rows.
    """
    splits = prepared.splits
    n_rows = sum(len(df) for df in splits.values())
    rated = pd.concat([splits[s]["rating"] for s in RATED_SPLITS], ignore_index=True)
    with_review = sum(int(df["review_text"].notna().sum()) for df in splits.values())
    authors = prepared.books["authors"]
    n_authors = len(set().union(*authors)) if len(authors) else 0
    users_per_split = prepared.users["split"].value_counts()
    return {
        "source": prepared.manifest.get("source"),
        "generator": {k: prepared.manifest["generator"].get(k) for k in ("scale", "seed")}
        if prepared.manifest.get("generator") else None,
        "books": len(prepared.books),
        "authors": n_authors,
        "users": len(prepared.users),
        "rows": {s: len(splits[s]) for s in SPLITS},
        "users_per_split": {s: int(users_per_split.get(s, 0)) for s in SPLITS},
        "labelled_rows": n_rows,
        "positive_share": float(rated.mean()) if len(rated) else None,
        "review_share": with_review / n_rows if n_rows else None,
        "created": prepared.manifest.get("created"),
    }
