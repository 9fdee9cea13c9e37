"""The built-in per-row features (lfs.spec.FEATURES), computed once per prepared dataset and cached on disk.

One row per row of a split, in the split's order and with its index, float64, NaN where missing:

polarity, subjectivity
    TextBlob(text).sentiment of the review text, scored once per distinct non-empty text (lfs.textblob_features).
same_author_count
    Distinct books in the user's book_idxs whose first_author is the candidate book's, the candidate included:
    the seed's ``len(set(x.book_idxs).intersection(first_author_to_books[author]))``. NaN if the candidate has
    no first_author.
review_length
    ``len(text.split())``. polarity, subjectivity and review_length are NaN when the text is null or "" (a
    whitespace-only text is a text: TextBlob scores it 0, 0 and its length is 0).
user_book_count, book_average_rating, book_ratings_count
    len(book_idxs) of the user; the candidate book's average_rating and ratings_count.

`compute_partition` is the pure core: rows (user_idx, book_idx, review_text) plus `FeatureLookups` (small
arrays by book_idx / user_idx) -> the feature frame. `compute_features` runs it over a whole split with TextBlob
in a process pool; lfs.dask_engine runs the same function partition by partition on a Dask cluster.

Cache layout, under the prepared folder::

    <data.path>/features/v{FEATURE_VERSION}/{split}.parquet     the split's features (7 float64 columns)
    <data.path>/features/v{FEATURE_VERSION}/{split}.json        meta: fingerprint, feature_version, rows, ...
    <data.path>/features/v{FEATURE_VERSION}/textblob.parquet    (key, polarity, subjectivity) per distinct text

The meta is also embedded in the parquet file's schema metadata, and that copy (atomic with the data) is the one
checked: a cached split is used only when its fingerprint (manifest["fingerprint"]), feature version, split and
row count match. Files are written to a temp file in the same folder, fsynced, then moved with os.replace.

>>> data = load_prepared("data/processed")                                       # doctest: +SKIP
>>> feats = load_all_features(data, progress=True)  # first: ~35 s at seed scale; later: < 0.1 s  # doctest: +SKIP
>>> feats["dev"].describe()                                                      # doctest: +SKIP
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.data.dataset import PreparedData
from pipeline.data.files import write_atomic
from pipeline.data.prepare import SPLITS

from . import textblob_features as tb
from .spec import FEATURES

__all__ = [
    "FEATURE_COLUMNS",
    "FEATURE_VERSION",
    "ROW_COLUMNS",
    "TEXTBLOB_CACHE",
    "FeatureLookups",
    "build_lookups",
    "cached_score_texts",
    "compute_features",
    "compute_partition",
    "distinct_texts",
    "feature_frame",
    "features_dir",
    "load_all_features",
    "load_features",
    "same_author_count",
    "write_parquet_atomic",
]

log = logging.getLogger(__name__)

FEATURE_VERSION = 1  # bump when a definition changes: caches live under features/v{FEATURE_VERSION}/
FEATURE_COLUMNS: tuple[str, ...] = tuple(FEATURES)
ROW_COLUMNS = ("user_idx", "book_idx", "review_text")  # what compute_partition reads from a split's rows
TEXTBLOB_CACHE = "textblob.parquet"
_META_KEY = b"lf_workbench.features"
_TEXTBLOB_META_KEY = b"lf_workbench.textblob"

ScoreTexts = Callable[[Sequence[str]], np.ndarray]


# ---------------------------------------------------------------------------------------------------------------
# The pure core
# ---------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FeatureLookups:
    """The small per-dataset arrays a partition of rows needs (a few MB at seed scale; picklable).

    book_author: int32 code of each book's first_author by book_idx (-1: null); n_authors codes in all.
    book_average_rating, book_ratings_count: float64 by book_idx (NaN where missing).
    user_offsets, user_books: the users' book_idxs as CSR (PreparedData.user_books_csr).
    """

    book_author: np.ndarray
    n_authors: int
    book_average_rating: np.ndarray
    book_ratings_count: np.ndarray
    user_offsets: np.ndarray
    user_books: np.ndarray


def build_lookups(data: PreparedData) -> FeatureLookups:
    books = data.books
    book_idx = books["book_idx"].to_numpy(np.int64)
    n_books = int(book_idx.max()) + 1 if len(book_idx) else 0
    codes, authors = pd.factorize(books["first_author"], use_na_sentinel=True)
    book_author = np.full(n_books, -1, dtype=np.int32)
    book_author[book_idx] = codes
    average = np.full(n_books, np.nan)
    average[book_idx] = books["average_rating"].to_numpy(np.float64, na_value=np.nan)
    count = np.full(n_books, np.nan)
    count[book_idx] = books["ratings_count"].to_numpy(np.float64, na_value=np.nan)
    offsets, values = data.user_books_csr
    return FeatureLookups(book_author=book_author, n_authors=len(authors), book_average_rating=average,
                          book_ratings_count=count, user_offsets=offsets, user_books=values)


def same_author_count(user_idx: np.ndarray, book_idx: np.ndarray, lookups: FeatureLookups) -> np.ndarray:
    """For each (user, candidate book): distinct books of the user with the candidate's first author (float64).

    Vectorized: gather the book_idxs of the users present (CSR), drop repeated (user, book) pairs, count
    (user, author) pairs with np.unique, look each row's (user, candidate author) up by binary search. A
    candidate that the user's book_idxs do not hold is not counted (as in the seed, which intersects sets).

    >>> lk = FeatureLookups(np.array([0, 0, 1], np.int32), 2, np.zeros(3), np.zeros(3),
    ...                     np.array([0, 3]), np.array([0, 1, 2], np.int32))
    >>> same_author_count(np.array([0, 0]), np.array([0, 2]), lk)
    array([2., 1.])
    """
    user_idx = np.asarray(user_idx, dtype=np.int64)
    book_idx = np.asarray(book_idx, dtype=np.int64)
    n_authors = max(lookups.n_authors, 1)
    users = np.unique(user_idx)
    starts = lookups.user_offsets[users]
    lengths = lookups.user_offsets[users + 1] - starts
    # positions of all the users' books in user_books: start of each user's segment + 0..length-1
    segment_start = np.repeat(starts - (np.cumsum(lengths) - lengths), lengths)
    books = lookups.user_books[segment_start + np.arange(int(lengths.sum()))].astype(np.int64)
    owners = np.repeat(users, lengths)
    n_books = max(len(lookups.book_author), 1)
    pairs = np.unique(owners * n_books + books)  # distinct (user, book): the seed counts a set
    owners, books = np.divmod(pairs, n_books)
    authors = lookups.book_author[books].astype(np.int64)
    has_author = authors >= 0
    keys, counts = np.unique(owners[has_author] * n_authors + authors[has_author], return_counts=True)

    candidate_author = lookups.book_author[book_idx].astype(np.int64)
    row_keys = user_idx * n_authors + candidate_author
    pos = np.minimum(np.searchsorted(keys, row_keys), max(len(keys) - 1, 0))
    found = (keys[pos] == row_keys) if len(keys) else np.zeros(len(row_keys), dtype=bool)
    out = np.where(found, counts[pos] if len(keys) else 0, 0).astype(np.float64)
    out[candidate_author < 0] = np.nan
    return out


def _text_mask(texts: np.ndarray) -> np.ndarray:
    """True where a row has a text: not null and not ""."""
    mask = pd.notna(texts)
    mask[mask] = texts[mask] != ""
    return mask


def compute_partition(rows: pd.DataFrame, lookups: FeatureLookups, *,
                      score_texts: ScoreTexts | None = None) -> pd.DataFrame:
    """The features of `rows` (needs ROW_COLUMNS): a float64 frame with `rows`'s index, columns FEATURE_COLUMNS.

    Pure: depends only on the arguments. `score_texts(distinct_texts) -> (k, 2)` gives TextBlob (polarity,
    subjectivity); by default the distinct non-empty texts of `rows` are scored here, in this process. Pass a
    `textblob_features.ScoreTable` when they were scored beforehand (in a pool, or read from the cache).
    """
    user_idx = rows["user_idx"].to_numpy(np.int64)
    book_idx = rows["book_idx"].to_numpy(np.int64)
    texts = rows["review_text"].to_numpy(dtype=object)
    has_text = _text_mask(texts)
    codes, uniques = pd.factorize(texts[has_text])
    if score_texts is None:
        scores = tb.score_texts(list(uniques), processes=1)
    else:
        scores = np.asarray(score_texts(list(uniques)), dtype=np.float64).reshape(len(uniques), 2)
    lengths = np.fromiter((len(t.split()) for t in uniques), dtype=np.float64, count=len(uniques))

    def per_text(values: np.ndarray) -> np.ndarray:
        column = np.full(len(rows), np.nan)
        column[has_text] = values[codes]
        return column

    columns = {
        "polarity": per_text(scores[:, 0]),
        "subjectivity": per_text(scores[:, 1]),
        "same_author_count": same_author_count(user_idx, book_idx, lookups),
        "review_length": per_text(lengths),
        "user_book_count": (lookups.user_offsets[user_idx + 1] - lookups.user_offsets[user_idx]).astype(np.float64),
        "book_average_rating": lookups.book_average_rating[book_idx],
        "book_ratings_count": lookups.book_ratings_count[book_idx],
    }
    return feature_frame([columns[c] for c in FEATURE_COLUMNS], rows.index)


def feature_frame(columns: Sequence[np.ndarray] | np.ndarray, index: pd.Index) -> pd.DataFrame:
    """The one way a feature frame is built (so the local and the Dask engine agree exactly): `columns` in
    FEATURE_COLUMNS order, as a list of 1-d arrays or an (n, 7) array."""
    if isinstance(columns, np.ndarray):
        columns = list(columns.T)
    return pd.DataFrame({name: np.asarray(col, dtype=np.float64) for name, col in zip(FEATURE_COLUMNS, columns,
                                                                                     strict=True)}, index=index)


def distinct_texts(frames: Iterable[pd.DataFrame]) -> list[str]:
    """The distinct non-empty review texts of several frames, in order of first appearance."""
    parts = [df["review_text"].to_numpy(dtype=object) for df in frames]
    texts = np.concatenate(parts) if parts else np.zeros(0, dtype=object)
    return list(pd.unique(texts[_text_mask(texts)]))


def compute_features(data: PreparedData, split: str, *, processes: int | None = None,
                     progress: bool = False) -> pd.DataFrame:
    """The features of one split, without any cache: TextBlob once per distinct text in `processes` processes
    (None: os.cpu_count(); 1: in this process), everything else vectorized."""
    return _compute_splits(data, [split], cache_file=None, processes=processes, progress=progress)[split]


def _compute_splits(data: PreparedData, splits: Sequence[str], *, cache_file: Path | None,
                    processes: int | None, progress: bool) -> dict[str, pd.DataFrame]:
    _check_splits(data, splits)
    texts = distinct_texts(data.splits[s] for s in splits)
    scores = cached_score_texts(texts, cache_file, processes=processes, progress=progress)
    table = tb.ScoreTable(texts, scores)
    lookups = build_lookups(data)
    return {s: compute_partition(data.splits[s], lookups, score_texts=table) for s in splits}


def _check_splits(data: PreparedData, splits: Sequence[str]) -> None:
    unknown = [s for s in splits if s not in data.splits]
    if unknown:
        raise KeyError(f"{data.path}: no split {', '.join(map(repr, unknown))} (splits: {', '.join(data.splits)})")


# ---------------------------------------------------------------------------------------------------------------
# The cache
# ---------------------------------------------------------------------------------------------------------------


def features_dir(data: PreparedData) -> Path:
    return Path(data.path) / "features" / f"v{FEATURE_VERSION}"


def load_features(data: PreparedData, split: str, *, cache: bool = True, processes: int | None = None,
                  progress: bool = False) -> pd.DataFrame:
    """The features of `split`, from the cache when it matches the dataset and FEATURE_VERSION, else computed
    (and cached when `cache`). TextBlob scores are cached per distinct text too, so loading the splits one by
    one scores each distinct text once overall."""
    return load_all_features(data, (split,), cache=cache, processes=processes, progress=progress)[split]


def load_all_features(data: PreparedData, splits: Sequence[str] = SPLITS, *, cache: bool = True,
                      processes: int | None = None, progress: bool = False) -> dict[str, pd.DataFrame]:
    """{split: features} for `splits`; the splits not cached are computed together, in one TextBlob pool run."""
    splits = list(dict.fromkeys(splits))
    _check_splits(data, splits)
    out = {s: _read_split_cache(data, s) for s in splits} if cache else {}
    todo = [s for s in splits if out.get(s) is None]
    if todo:
        folder = features_dir(data)
        computed = _compute_splits(data, todo, cache_file=folder / TEXTBLOB_CACHE if cache else None,
                                   processes=processes, progress=progress)
        for s in todo:
            if cache:
                _write_split_cache(data, s, computed[s])
            out[s] = computed[s]
    return {s: out[s] for s in splits}


def _split_meta(data: PreparedData, split: str) -> dict:
    return {"fingerprint": data.manifest.get("fingerprint"), "feature_version": FEATURE_VERSION, "split": split,
            "rows": len(data.splits[split]), "columns": list(FEATURE_COLUMNS)}


def _read_split_cache(data: PreparedData, split: str) -> pd.DataFrame | None:
    import pyarrow.parquet as pq

    path = features_dir(data) / f"{split}.parquet"
    if not path.is_file():
        return None
    want = _split_meta(data, split)
    try:
        meta = json.loads((pq.read_schema(path).metadata or {}).get(_META_KEY, b"{}"))
        if {k: meta.get(k) for k in want} != want:
            log.info("features cache %s is stale (%s): recomputing", path,
                     ", ".join(k for k in want if meta.get(k) != want[k]))
            return None
        table = pq.read_table(path, columns=list(FEATURE_COLUMNS))
        return feature_frame([table.column(c).to_numpy() for c in FEATURE_COLUMNS], data.splits[split].index)
    except Exception as e:  # a damaged cache is recomputed, never fatal
        log.warning("ignoring unreadable features cache %s: %s", path, e)
        return None


def _write_split_cache(data: PreparedData, split: str, frame: pd.DataFrame) -> None:
    import pyarrow as pa

    folder = features_dir(data)
    meta = {**_split_meta(data, split), "textblob_version": tb.textblob_version(),
            "created": datetime.now(UTC).isoformat(timespec="seconds")}
    table = pa.Table.from_pandas(frame, preserve_index=False)
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), _META_KEY: json.dumps(meta).encode()})
    write_parquet_atomic(table, folder / f"{split}.parquet")
    write_atomic(folder / f"{split}.json", lambda f: f.write(json.dumps(meta, indent=2).encode() + b"\n"))


def cached_score_texts(texts: Sequence[str], cache_file: Path | None, *, processes: int | None = None,
                       progress: bool = False) -> np.ndarray:
    """`textblob_features.score_texts` through a parquet cache keyed by `text_keys`: only new texts are scored.

    The cache holds (key, polarity, subjectivity) and the TextBlob version; one written by another version is
    ignored and replaced. New scores are merged in and the file rewritten atomically. `cache_file=None` scores
    everything without a cache.
    """
    texts = list(texts)
    if cache_file is None:
        return tb.score_texts(texts, processes=processes, progress=progress)
    keys = pd.Index(tb.text_keys(texts), dtype=object)
    cached = _read_textblob_cache(cache_file)
    out = np.full((len(texts), 2), np.nan)
    hit = np.zeros(len(texts), dtype=bool)
    if cached is not None:
        pos = pd.Index(cached["key"].to_numpy(), dtype=object).get_indexer(keys)
        hit = pos >= 0
        out[hit] = cached[list(tb.SENTIMENT_COLUMNS)].to_numpy(np.float64)[pos[hit]]
    missing = np.flatnonzero(~hit)
    log.info("TextBlob: %d distinct texts, %d cached, %d to score", len(texts), int(hit.sum()), len(missing))
    if len(missing):
        out[missing] = tb.score_texts([texts[i] for i in missing], processes=processes, progress=progress)
        new = pd.DataFrame({"key": keys[missing].to_numpy(), "polarity": out[missing, 0],
                            "subjectivity": out[missing, 1]})
        _write_textblob_cache(cache_file, new if cached is None else pd.concat([cached, new], ignore_index=True))
    return out


def _read_textblob_cache(path: Path) -> pd.DataFrame | None:
    import pyarrow.parquet as pq

    if not path.is_file():
        return None
    try:
        table = pq.read_table(path)
        meta = json.loads((table.schema.metadata or {}).get(_TEXTBLOB_META_KEY, b"{}"))
    except Exception as e:  # a damaged cache is recomputed, never fatal
        log.warning("ignoring unreadable TextBlob cache %s: %s", path, e)
        return None
    if meta.get("textblob_version") != tb.textblob_version():
        log.info("ignoring TextBlob cache %s written by TextBlob %s", path, meta.get("textblob_version"))
        return None
    return table.to_pandas()


def _write_textblob_cache(path: Path, frame: pd.DataFrame) -> None:
    import pyarrow as pa

    table = pa.Table.from_pandas(frame, preserve_index=False)
    meta = {_TEXTBLOB_META_KEY: json.dumps({"textblob_version": tb.textblob_version()}).encode()}
    write_parquet_atomic(table.replace_schema_metadata({**(table.schema.metadata or {}), **meta}), path)


def write_parquet_atomic(table, path: Path) -> None:
    """Write a pyarrow Table to `path` atomically (temp file in the same folder, fsync, os.replace)."""
    import pyarrow.parquet as pq

    write_atomic(path, lambda f: pq.write_table(table, f))
