"""Read the Goodreads raw files (gzip JSON lines) into typed pandas frames.

One line iterator (`_iter_records`) does the gzip, UTF-8, JSON and required-key checks for every file; each
reader then names the keys it wants and how to type them (`_Field`), collects the raw values of a chunk of lines in
per-column lists and converts every column at once with numpy/pandas. A bad value raises `RawDataError` naming the
file, the line and the field, or, with ``skip_bad_lines=True``, drops the line and counts it in `LoadStats`.

Typing rules, the same in every file:

- numbers: a JSON number or a string holding one ("15716" -> 15716, "4.09" -> 4.09); "" or null -> missing;
- booleans: a JSON boolean or "true" / "false" ("false" -> False, never ``bool("false")``); "" or null -> missing;
- text: a JSON string, kept exactly as in the file; a missing key or null reads as "" (the files themselves write
  "" for unknown values), except ids that a line cannot do without, which must be non-empty strings;
- lists (series, similar_books, authors, popular_shelves): a missing key, null or "" reads as an empty list.

Keys not named by a reader are never looked at, so unknown extra keys are ignored.

>>> books, stats = read_books("data/raw")                      # doctest: +SKIP
>>> for chunk in iter_interactions("data/raw", columns=["user_id", "book_id", "rating"]):  # doctest: +SKIP
...     ...
"""

from __future__ import annotations

import gc
import gzip
import json
import math
import sys
import zlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm import tqdm

from pipeline.data.rawformat import AUTHORS_FILE, BOOKS_FILE, INTERACTIONS_FILE, REQUIRED_KEYS, REVIEWS_FILE

__all__ = [
    "AUTHOR_COLUMNS",
    "DEFAULT_RAW_DIR",
    "INTERACTION_COLUMNS",
    "LoadStats",
    "MAX_LINE_BYTES",
    "REVIEW_COLUMNS",
    "RawDataError",
    "iter_authors",
    "iter_interactions",
    "iter_reviews",
    "raw_path",
    "read_authors",
    "read_books",
    "read_reviews",
]

DEFAULT_RAW_DIR = Path("data/raw")

_BLOCK_BYTES = 1 << 20  # decompressed bytes read at a time; lines are split out of each block at C speed
_SHOW_CHARS = 60  # longest bad value quoted in an error message
# Longest line read, in bytes. Real Goodreads lines (long descriptions and reviews) stay well under 1 MB; the cap
# keeps a file without newlines from being held whole in memory.
MAX_LINE_BYTES = 16 << 20


class RawDataError(ValueError):
    """A raw file is missing, corrupt or holds a bad line; the message names the file, line and field."""


@dataclass
class LoadStats:
    """What reading one raw file saw: non-blank lines read and lines skipped (only with skip_bad_lines)."""

    path: Path
    lines: int = 0
    bad_lines: int = 0


def raw_path(raw_dir: str | Path, name: str) -> Path:
    """The path of raw file `name` in `raw_dir`; RawDataError saying where to put it when it is missing."""
    path = Path(raw_dir) / name
    if not path.is_file():
        raise RawDataError(f"{name} is missing: put it in {Path(raw_dir)} (expected {path})")
    return path


# --------------------------------------------------------------------------------------------------------------
# Lines and records


_TOO_LONG: Any = object()  # stands in for a line past MAX_LINE_BYTES, whose bytes are dropped as they are read


def _size(n: int) -> str:
    return f"{n >> 20} MB" if n >= 1 << 20 and n % (1 << 20) == 0 else f"{n:,} bytes"


def _iter_line_blocks(path: Path, progress: bool) -> Iterator[list[bytes]]:
    """Yield the file's lines (without b"\\n") block by block; a truncated or corrupt gzip raises RawDataError.

    A line longer than MAX_LINE_BYTES comes out as _TOO_LONG as soon as it passes the cap, and the rest of it is
    dropped as it is read: memory stays bounded and reading linear even in a file without a single newline.
    """
    max_line = MAX_LINE_BYTES  # read at call time, so a test can lower it
    done = 0  # lines handed out so far
    with (
        open(path, "rb") as raw,
        gzip.GzipFile(fileobj=raw) as gz,
        tqdm(total=path.stat().st_size, unit="B", unit_scale=True, desc=path.name, file=sys.stderr,
             disable=not progress, mininterval=0.5) as bar,
    ):
        # The start of a line that spans blocks, kept as pieces and joined once: concatenating block by block
        # would copy the line again for every block (quadratic in its length).
        head: list[bytes] = []
        head_bytes = 0
        dropping = False  # the current line passed the cap and went out as _TOO_LONG: drop it up to its newline
        while True:
            try:
                block = gz.read(_BLOCK_BYTES)
            except (EOFError, gzip.BadGzipFile, zlib.error) as e:
                if done == 0 and not head and isinstance(e, gzip.BadGzipFile):
                    raise RawDataError(f"{path}: not a gzip file ({e})") from None
                where = f"after line {done}" if done else "before the first complete line"
                raise RawDataError(f"{path}: the gzip stream is truncated or corrupt {where} ({e})") from None
            if not block:
                break
            lines = block.split(b"\n")
            tail = lines.pop()
            if lines:
                if dropping:
                    del lines[0]  # the end of the line already handed out as _TOO_LONG
                elif head_bytes + len(lines[0]) > max_line:
                    lines[0] = _TOO_LONG
                elif head:
                    head.append(lines[0])
                    lines[0] = b"".join(head)
                head, head_bytes, dropping = [], 0, False
                if len(block) > max_line:  # only a cap below the block size lets a line inside one block pass it
                    lines = [line if line is _TOO_LONG or len(line) <= max_line else _TOO_LONG for line in lines]
                if lines:
                    done += len(lines)
                    yield lines
            if tail and not dropping:
                head.append(tail)
                head_bytes += len(tail)
                if head_bytes > max_line:
                    head, head_bytes, dropping = [], 0, True
                    done += 1
                    yield [_TOO_LONG]
            bar.update(raw.tell() - bar.n)
        if head:
            yield [b"".join(head)]


_BLANK = object()
_scan_once = json.JSONDecoder().scan_once  # the C scanner: about twice as fast per line as json.loads


def _parse_json(text: str) -> Any:
    """Parse one line of JSON, or return _BLANK for a blank line; JSONDecodeError as json.loads would raise."""
    try:
        value, end = _scan_once(text, 0)
    except StopIteration:  # nothing parseable at column 1: blank, leading whitespace or not JSON at all
        if not text.strip():
            return _BLANK
        return json.loads(text)
    if end != len(text) and text[end:].strip():
        json.loads(text)  # raises "Extra data"
    return value


def _iter_records(path: Path, required: Sequence[str], skip_bad_lines: bool, stats: LoadStats,
                  progress: bool = False) -> Iterator[tuple[int, dict]]:
    """Yield (line number, JSON object) for each good line of `path`, 1-based line numbers as `zcat | sed -n` has.

    Blank lines are passed over. A line that is longer than MAX_LINE_BYTES, not UTF-8, not JSON (or JSON Python
    cannot hold: an integer past its digit limit, nesting past its recursion limit), not a JSON object or lacks a
    key of `required` raises RawDataError, or with `skip_bad_lines` is counted in ``stats.bad_lines`` and skipped.
    """
    required_set = frozenset(required)

    def bad(line_no: int, problem: str) -> None:
        if not skip_bad_lines:
            raise RawDataError(f"{path}, line {line_no}: {problem}")
        stats.bad_lines += 1

    line_no = 0
    for lines in _iter_line_blocks(path, progress):
        for line in lines:
            line_no += 1
            problem = None
            if line is _TOO_LONG:
                problem = (f"line longer than {_size(MAX_LINE_BYTES)}, the longest the loader reads "
                           "(is this a JSON-lines file?)")
            else:
                try:
                    record = _parse_json(line.decode("utf-8"))
                except UnicodeDecodeError as e:
                    problem = f"not valid UTF-8 ({e.reason} at byte {e.start})"
                except json.JSONDecodeError as e:
                    problem = f"not valid JSON ({e.msg}: column {e.colno})"
                except ValueError:  # json's int(): past Python's int string conversion limit
                    problem = f"unreadable JSON (an integer longer than {sys.get_int_max_str_digits():,} digits)"
                except RecursionError:  # the C scanner recurses once per [ or {
                    problem = "unreadable JSON (arrays or objects nested too deeply)"
            if problem is not None:
                stats.lines += 1
                bad(line_no, problem)
                continue
            if record is _BLANK:
                continue
            stats.lines += 1
            if type(record) is not dict:
                bad(line_no, f"expected a JSON object, got {type(record).__name__}")
            elif not required_set <= record.keys():
                missing = next(key for key in required if key not in record)
                bad(line_no, f"required key '{missing}' is missing")
            else:
                yield line_no, record


# --------------------------------------------------------------------------------------------------------------
# Fields: which key to pull from a line and how to type a whole column of its values at once.
# A converter takes the list of raw values (None where the key is missing) and returns the output columns and a
# boolean mask of bad values (None when all are good).

Converted = tuple[dict[str, Any], "np.ndarray | None"]


@dataclass(frozen=True)
class _Field:
    key: str
    expected: str  # how a good value looks, for "field 'x' must be <expected>, got ..."
    convert: Callable[[list], Converted]


def _mask_or_none(bad: np.ndarray) -> np.ndarray | None:
    return bad if bad.any() else None


def _object_column(items: list) -> np.ndarray:
    """A 1-d object array holding `items` as they are (np.array would turn a list of lists into 2-d)."""
    return np.fromiter(items, dtype=object, count=len(items))


def _text(key: str, *, nonempty: bool = False) -> _Field:
    """A string column (object dtype); missing/null -> "", or an error when `nonempty`."""

    def convert(values: list) -> Converted:
        column = _object_column(values)
        if set(map(type, values)) <= {str} and (not nonempty or all(values)):
            return {key: column}, None  # the common case, decided at C speed
        is_str = np.fromiter((type(v) is str for v in values), dtype=bool, count=len(values))
        if nonempty:
            bad = ~is_str | (column == "")
        else:
            is_none = np.fromiter((v is None for v in values), dtype=bool, count=len(values))
            column[is_none] = ""
            bad = ~(is_str | is_none)
        column[bad] = None
        return {key: column}, _mask_or_none(bad)

    return _Field(key, "a non-empty string" if nonempty else "a string", convert)


def _float_or_nan(value: int | float) -> float:
    try:
        return float(value)
    except OverflowError:  # an integer beyond float range (a JSON number of hundreds of digits): a bad value
        return math.nan


def _to_float(values: list) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(numbers as float64, missing mask, unparseable mask) from JSON numbers, numeric strings, "" and null."""
    n = len(values)
    if set(map(type, values)) <= {int, float}:  # real JSON numbers (never bool: its type is bool, not int)
        try:
            return np.array(values, dtype=np.float64), np.zeros(n, bool), np.zeros(n, bool)
        except OverflowError:
            pass
    is_str = np.fromiter((type(v) is str for v in values), dtype=bool, count=n)
    is_num = np.fromiter((type(v) is int or type(v) is float for v in values), dtype=bool, count=n)
    missing = np.fromiter((v is None or v == "" for v in values), dtype=bool, count=n)
    numbers = np.full(n, np.nan)
    parse = is_str & ~missing
    if parse.any():
        texts = pd.Series([v for v, p in zip(values, parse, strict=True) if p], dtype=object)
        numbers[parse] = pd.to_numeric(texts, errors="coerce").to_numpy(dtype=np.float64)
    if is_num.any():
        numbers[is_num] = [_float_or_nan(v) for v, m in zip(values, is_num, strict=True) if m]
    unparseable = ~missing & ~np.isfinite(numbers)
    return numbers, missing, unparseable


def _number(key: str, dtype: str, *, required: bool = False, low: float | None = None,
            high: float | None = None) -> _Field:
    """A numeric column of `dtype`: "float64", a numpy int ("int8", "int64": needs `required`) or "Int64"-style."""
    integer = dtype != "float64"
    if integer and dtype[0] == "i" and not required:
        raise ValueError(f"{key}: a non-nullable {dtype} column must be required")
    kind = "an integer" if integer else "a number"
    if low is not None and high is not None:
        kind += f" from {low:g} to {high:g}"
    elif low is not None:
        kind += f" >= {low:g}"
    expected = f"{kind} (or a string holding one)"

    def convert(values: list) -> Converted:
        numbers, missing, bad = _to_float(values)
        if integer:
            info = np.iinfo(dtype.lower())
            bad |= ~missing & ~bad & ((numbers != np.floor(numbers)) | (numbers < info.min) | (numbers > info.max))
        if low is not None:
            bad |= numbers < low
        if high is not None:
            bad |= numbers > high
        if required:
            bad |= missing
        drop = bad | missing
        if dtype == "float64":
            column = np.where(drop, np.nan, numbers)
        elif dtype[0] == "i":
            column = np.where(drop, 0, numbers).astype(dtype)
        else:
            column = pd.arrays.IntegerArray(np.where(drop, 0, numbers).astype(dtype.lower()), drop)
        return {key: column}, _mask_or_none(bad)

    return _Field(key, expected, convert)


_BOOL_STRINGS = {"true": True, "false": False, "": None}
_BAD = object()


def _boolean(key: str) -> _Field:
    """A pandas nullable boolean column from JSON booleans or "true"/"false"; ""/null -> missing."""

    def convert(values: list) -> Converted:
        n = len(values)
        if set(map(type, values)) <= {bool}:
            return {key: pd.arrays.BooleanArray(np.array(values, dtype=bool), np.zeros(n, bool))}, None
        parsed = [v if v is None or type(v) is bool else _BOOL_STRINGS.get(v, _BAD) if type(v) is str else _BAD
                  for v in values]
        bad = np.fromiter((v is _BAD for v in parsed), dtype=bool, count=n)
        missing = np.fromiter((v is None for v in parsed), dtype=bool, count=n) | bad
        truth = np.fromiter((v is True for v in parsed), dtype=bool, count=n)
        return {key: pd.arrays.BooleanArray(truth, missing)}, _mask_or_none(bad)

    return _Field(key, '"true", "false" or ""', convert)


def _string_list(key: str) -> _Field:
    """A column of list[str]; missing/null/"" -> []."""

    def one(v: Any) -> list[str] | None:
        if v is None or v == "":
            return []
        if type(v) is list and all(type(x) is str for x in v):
            return v
        return None

    def convert(values: list) -> Converted:
        lists = [one(v) for v in values]
        bad = np.fromiter((x is None for x in lists), dtype=bool, count=len(lists))
        return {key: _object_column(lists)}, _mask_or_none(bad)

    return _Field(key, "a list of strings", convert)


def _authors(key: str = "authors") -> _Field:
    """authors [{"author_id", "role"}] -> authors (author ids), first_author (the seed's: authors[0]) and roles."""

    def one(v: Any) -> tuple[list[str], list[str]] | None:
        if v is None or v == "":
            return [], []
        if type(v) is not list:
            return None
        ids, roles = [], []
        for a in v:
            if type(a) is not dict or type(a.get("author_id")) is not str or not a["author_id"]:
                return None
            role = a.get("role")
            ids.append(a["author_id"])
            roles.append(role if type(role) is str else "")
        return ids, roles

    def convert(values: list) -> Converted:
        parsed = [one(v) for v in values]
        bad = np.fromiter((p is None for p in parsed), dtype=bool, count=len(parsed))
        ids = [p[0] if p is not None else [] for p in parsed]
        roles = [p[1] if p is not None else [] for p in parsed]
        first = [a[0] if a else None for a in ids]
        columns = {"authors": _object_column(ids), "first_author": _object_column(first),
                   "author_roles": _object_column(roles)}
        return columns, _mask_or_none(bad)

    return _Field(key, 'a list of {"author_id": "...", "role": "..."} objects', convert)


_MAX_SHELF_COUNT = 10**15  # far beyond any real count; a longer digit string is a malformed value


def _shelves(key: str = "popular_shelves") -> _Field:
    """popular_shelves [{"count": "53", "name": "fantasy"}] -> shelf_names (list[str]) and shelf_counts
    (list[int]), in file order; missing/null/"" -> empty lists."""

    def one(v: Any) -> tuple[list[str], list[int]] | None:
        if v is None or v == "":
            return [], []
        if type(v) is not list:
            return None
        names, counts = [], []
        for shelf in v:
            if type(shelf) is not dict or type(shelf.get("name")) is not str:
                return None
            count = shelf.get("count")
            if type(count) is str and count.isascii() and count.isdigit() and len(count) <= 15:
                count = int(count)
            if type(count) is not int or not 0 <= count <= _MAX_SHELF_COUNT:
                return None
            names.append(shelf["name"])
            counts.append(count)
        return names, counts

    def convert(values: list) -> Converted:
        parsed = [one(v) for v in values]
        bad = np.fromiter((p is None for p in parsed), dtype=bool, count=len(parsed))
        columns = {"shelf_names": _object_column([p[0] if p is not None else [] for p in parsed]),
                   "shelf_counts": _object_column([p[1] if p is not None else [] for p in parsed])}
        return columns, _mask_or_none(bad)

    return _Field(key, 'a list of {"count": "<digits>", "name": "..."} objects', convert)


# --------------------------------------------------------------------------------------------------------------
# The generic chunked reader


def _show(value: Any) -> str:
    try:
        text = repr(value)
    except RecursionError:  # a value nested nearly as deep as the parser allows
        return f"a {type(value).__name__} nested too deeply to show"
    return text if len(text) <= _SHOW_CHARS else text[: _SHOW_CHARS - 3] + "..."


def _to_frame(path: Path, fields: Sequence[_Field], values: dict[str, list], line_nos: list[int],
              skip_bad_lines: bool, stats: LoadStats) -> pd.DataFrame:
    """Type one chunk's collected values; raise on the first bad value, or drop and count bad lines."""
    columns: dict[str, Any] = {}
    problems: list[tuple[int, _Field]] = []
    masks = []
    for f in fields:
        produced, bad = f.convert(values[f.key])
        columns.update(produced)
        if bad is not None:
            problems.append((int(np.argmax(bad)), f))
            masks.append(bad)
    frame = pd.DataFrame(columns, copy=False)  # no consolidation copy: each column is a fresh array already
    if not problems:
        return frame
    if not skip_bad_lines:
        i, f = min(problems, key=lambda p: p[0])
        raise RawDataError(f"{path}, line {line_nos[i]}: field '{f.key}' must be {f.expected}, "
                           f"got {_show(values[f.key][i])}")
    drop = np.logical_or.reduce(masks)
    stats.bad_lines += int(drop.sum())
    return frame[~drop].reset_index(drop=True)


def _iter_frames(path: Path, fields: Sequence[_Field], required: Sequence[str], chunk_rows: int,
                 skip_bad_lines: bool, stats: LoadStats, progress: bool) -> Iterator[pd.DataFrame]:
    """Frames of up to `chunk_rows` good lines; always at least one frame (an empty one for an empty file)."""
    if chunk_rows < 1:
        raise ValueError(f"chunk_rows must be >= 1, got {chunk_rows}")
    return _generate_frames(path, fields, required, chunk_rows, skip_bad_lines, stats, progress)


def _generate_frames(path: Path, fields: Sequence[_Field], required: Sequence[str], chunk_rows: int,
                     skip_bad_lines: bool, stats: LoadStats, progress: bool) -> Iterator[pd.DataFrame]:
    keys = [f.key for f in fields]
    records = _iter_records(path, required, skip_bad_lines, stats, progress)
    first = True
    while True:
        with _gc_paused():
            values: dict[str, list] = {k: [] for k in keys}
            line_nos: list[int] = []
            appends = [(k, values[k].append) for k in keys]
            for line_no, record in islice(records, chunk_rows):
                get = record.get
                for key, append in appends:
                    append(get(key))
                line_nos.append(line_no)
            frame = _to_frame(path, fields, values, line_nos, skip_bad_lines, stats) if line_nos or first else None
        if frame is None:
            return
        yield frame
        first = False
        if len(line_nos) < chunk_rows:
            return


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a chunk is collected: the lists kept per line (authors, series)
    would otherwise trigger full collections over everything alive; reading makes no reference cycles."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _select(fields: Sequence[_Field], columns: Sequence[str] | None) -> list[_Field]:
    if columns is None:
        return list(fields)
    known = {f.key: f for f in fields}
    unknown = [c for c in columns if c not in known]
    if unknown:
        raise ValueError(f"unknown column(s) {unknown}: choose from {list(known)}")
    return [known[c] for c in columns]


# --------------------------------------------------------------------------------------------------------------
# The files

BOOK_FIELDS: tuple[_Field, ...] = (
    _text("book_id", nonempty=True),
    _text("title"),
    _text("title_without_series"),
    _authors(),
    _number("average_rating", "float64", low=0, high=5),
    _number("ratings_count", "int64", required=True, low=0),
    _number("text_reviews_count", "Int64", low=0),
    _text("description"),
    _boolean("is_ebook"),
    _text("language_code"),
    _text("country_code"),
    _string_list("series"),
    _string_list("similar_books"),
    _shelves(),
    _number("num_pages", "Int64", low=0),
    _number("publication_year", "Int64"),
    _text("format"),
    _text("publisher"),
    _text("image_url"),
    _text("url"),
)

INTERACTION_FIELDS: tuple[_Field, ...] = (
    _text("user_id", nonempty=True),
    _text("book_id", nonempty=True),
    _text("review_id"),
    _boolean("is_read"),
    _number("rating", "int8", required=True, low=0, high=5),
    _text("date_added"),
)
INTERACTION_COLUMNS = tuple(f.key for f in INTERACTION_FIELDS)

REVIEW_FIELDS: tuple[_Field, ...] = (
    _text("user_id", nonempty=True),
    _text("book_id", nonempty=True),
    _text("review_id"),
    _number("rating", "Int8", low=0, high=5),
    _text("review_text"),
    _number("n_votes", "Int64"),
    _number("n_comments", "Int64"),
    _text("date_added"),
)
REVIEW_COLUMNS = tuple(f.key for f in REVIEW_FIELDS)

AUTHOR_FIELDS: tuple[_Field, ...] = (
    _text("author_id", nonempty=True),
    _text("name"),
    _number("average_rating", "float64", low=0, high=5),
    _number("ratings_count", "Int64", low=0),
    _number("text_reviews_count", "Int64", low=0),
)
AUTHOR_COLUMNS = tuple(f.key for f in AUTHOR_FIELDS)


def _iter_file(raw_dir: str | Path, name: str, fields: Sequence[_Field], columns: Sequence[str] | None,
               chunk_rows: int, skip_bad_lines: bool, progress: bool,
               stats: LoadStats | None) -> Iterator[pd.DataFrame]:
    path = raw_path(raw_dir, name)
    stats = stats if stats is not None else LoadStats(path)
    return _iter_frames(path, _select(fields, columns), REQUIRED_KEYS[name], chunk_rows, skip_bad_lines, stats,
                        progress)


def _read_file(raw_dir: str | Path, name: str, fields: Sequence[_Field], skip_bad_lines: bool,
               progress: bool) -> tuple[pd.DataFrame, LoadStats]:
    stats = LoadStats(raw_path(raw_dir, name))
    frames = list(_iter_file(raw_dir, name, fields, None, 200_000, skip_bad_lines, progress, stats))
    frame = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
    return frame, stats


def read_books(raw_dir: str | Path = DEFAULT_RAW_DIR, *, skip_bad_lines: bool = False,
               progress: bool = False) -> tuple[pd.DataFrame, LoadStats]:
    """All books, one row per line in file order.

    Columns: book_id, title, title_without_series (str); authors (list of author ids, in file order),
    first_author (authors[0], None for a book without authors), author_roles (list[str]); average_rating
    (float64); ratings_count (int64); text_reviews_count, num_pages, publication_year (Int64); description (str);
    is_ebook (nullable boolean); language_code, country_code (str); series, similar_books (list[str]);
    shelf_names, shelf_counts (popular_shelves: list[str], list[int]); format, publisher, image_url, url (str).
    """
    return _read_file(raw_dir, BOOKS_FILE, BOOK_FIELDS, skip_bad_lines, progress)


def iter_interactions(raw_dir: str | Path = DEFAULT_RAW_DIR, *, chunk_rows: int = 500_000,
                      columns: Sequence[str] | None = None, skip_bad_lines: bool = False, progress: bool = False,
                      stats: LoadStats | None = None) -> Iterator[pd.DataFrame]:
    """Interactions in file order, in frames of up to `chunk_rows` rows; stop iterating to stop reading.

    Columns: user_id, book_id, review_id, date_added (str), is_read (nullable boolean), rating (int8, 0 = not
    rated), or only those named in `columns` (see INTERACTION_COLUMNS; fewer is faster). Pass a LoadStats as
    `stats` to have it filled in as the file is read.
    """
    return _iter_file(raw_dir, INTERACTIONS_FILE, INTERACTION_FIELDS, columns, chunk_rows, skip_bad_lines, progress,
                      stats)


def iter_reviews(raw_dir: str | Path = DEFAULT_RAW_DIR, *, chunk_rows: int = 100_000,
                 columns: Sequence[str] | None = None, skip_bad_lines: bool = False, progress: bool = False,
                 stats: LoadStats | None = None) -> Iterator[pd.DataFrame]:
    """Reviews in file order, in frames of up to `chunk_rows` rows (review texts are long: keep chunks modest).

    Columns as read_reviews, or only those named in `columns` (see REVIEW_COLUMNS).
    """
    return _iter_file(raw_dir, REVIEWS_FILE, REVIEW_FIELDS, columns, chunk_rows, skip_bad_lines, progress, stats)


def read_reviews(raw_dir: str | Path = DEFAULT_RAW_DIR, *, skip_bad_lines: bool = False,
                 progress: bool = False) -> tuple[pd.DataFrame, LoadStats]:
    """All reviews: user_id, book_id, review_id (str), rating (Int8), review_text (str, exactly as in the file),
    n_votes, n_comments (Int64), date_added (str)."""
    return _read_file(raw_dir, REVIEWS_FILE, REVIEW_FIELDS, skip_bad_lines, progress)


def iter_authors(raw_dir: str | Path = DEFAULT_RAW_DIR, *, chunk_rows: int = 200_000,
                 columns: Sequence[str] | None = None, skip_bad_lines: bool = False, progress: bool = False,
                 stats: LoadStats | None = None) -> Iterator[pd.DataFrame]:
    """Authors (the optional goodreads_book_authors.json.gz) in file order, in frames of up to `chunk_rows` rows.

    The real file lists every author of the whole Goodreads graph (about 830k), so a caller that needs a few
    names reads `columns=["author_id", "name"]` chunk by chunk and keeps its own. Columns as read_authors, or only
    those named in `columns` (see AUTHOR_COLUMNS). RawDataError when the file is missing: check first.
    """
    return _iter_file(raw_dir, AUTHORS_FILE, AUTHOR_FIELDS, columns, chunk_rows, skip_bad_lines, progress, stats)


def read_authors(raw_dir: str | Path = DEFAULT_RAW_DIR, *, skip_bad_lines: bool = False,
                 progress: bool = False) -> tuple[pd.DataFrame, LoadStats]:
    """All authors: author_id, name (str, "" when null), average_rating (float64), ratings_count,
    text_reviews_count (Int64)."""
    return _read_file(raw_dir, AUTHORS_FILE, AUTHOR_FIELDS, skip_bad_lines, progress)
