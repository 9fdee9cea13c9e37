"""Vectorized LF application: specs + per-row features -> label matrix L (n x m, int8, -1 = abstain).

One evaluator per template turns a spec into one column with numpy. `LFData` holds what the evaluators read for
one split (rows, features, book texts) and memoises the expensive parts, so that an edit costs milliseconds:

- keyword hits: each text field is lower-cased once, UTF-8 encoded and joined into one buffer; the rows that
  contain a keyword are found with Aho-Corasick (a keyword that occurs very often is searched item by item
  instead, see `TextIndex`) and memoised per (field, mode, keyword) in a process-wide cache bounded by bytes
  (`KEYWORD_MASKS`), so editing a keyword list only searches the new keywords;
- columns: memoised by the spec's `key` (template + parameters, not the name), so editing one LF recomputes
  one column.

Title and description live on books: they are searched once per book and mapped onto rows by book_idx.
`lfs.snorkel_lfs` builds, for every spec, a row-by-row snorkel LabelingFunction that must agree exactly.
An `LFData` is shared by the workbench's sessions (threads): its caches are locked.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import itertools
import operator
import re
import threading
import weakref
from array import array
from collections.abc import Hashable, Sequence

import numpy as np
import pandas as pd

from .lru import LRUCache
from .spec import ABSTAIN, KeywordLF, LFSpec, PythonLF, ThresholdLF

OPS = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le}
_SEP = b"\x00"  # keywords cannot contain it (config validation), so no match spans two texts

KEYWORD_CACHE_BYTES = 256 << 20  # keyword masks kept for all splits and fields; least recently used go first
# Buffer bytes per Aho-Corasick call, which bound the match tuples alive at once: the first window is small, so
# a keyword found everywhere is noticed after a few thousand tuples; windows then double up to _WINDOW.
_FIRST_WINDOW, _WINDOW = 1 << 12, 1 << 20
_DENSE = 256  # a keyword matching more than once per _DENSE bytes of a window is searched item by item instead
_FLUSH = 1 << 16  # hit positions gathered before they are marked (bounds the array holding them)
# Up to this many new keywords get one automaton each: one pattern is found with a fast (SIMD) prefilter, while many
# make Aho-Corasick step through every byte, ~25x slower per pass on seed-scale reviews.
_SEPARATE = 24
_ASCII_WORD = np.zeros(256, dtype=bool)  # bytes that are word characters; >= 0x80 needs decoding to tell
_ASCII_WORD[np.frombuffer(b"0123456789_abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ", np.uint8)] = True
_ASCII_WORD_CLASS = rb"[0-9A-Za-z_]"


def is_word_char(ch: str) -> bool:
    """What `\\w` matches in Python's re (unicode): alphanumerics and the underscore."""
    return ch.isalnum() or ch == "_"


class ArrayLRU(LRUCache):
    """Read-only numpy arrays by key (`LRUCache` by their nbytes): what one session reads, no session changes."""

    def __init__(self, *, max_bytes: int | None = None, max_items: int | None = None):
        super().__init__(max_bytes=max_bytes, max_items=max_items, size=lambda array: array.nbytes)

    def put(self, key: Hashable, value: np.ndarray) -> np.ndarray:
        value.setflags(write=False)
        return super().put(key, value)


KEYWORD_MASKS = ArrayLRU(max_bytes=KEYWORD_CACHE_BYTES)
_INDEX_IDS = itertools.count()


def _forget_index(cache: ArrayLRU, owner: int) -> None:
    cache.discard(lambda key: key[0] == owner)


_PATTERN, _BEGIN = operator.itemgetter(0), operator.itemgetter(1)  # of Aho-Corasick's (pattern, begin, end)


def _overlaps_itself(pattern: bytes) -> bool:
    """True when two occurrences of `pattern` can overlap (a proper prefix of it is also a suffix: "a-a")."""
    return any(pattern[:k] == pattern[-k:] for k in range(1, len(pattern)))


class TextIndex:
    """Lower-cased texts (None = missing) in one UTF-8 buffer; which items contain a keyword, memoised.

    Keywords not yet memoised are searched with Aho-Corasick (all overlapping matches) over windows of the
    buffer, so at most one window's match tuples are alive at once: one automaton per keyword, or one for all when
    there are more than `_SEPARATE` (then the cost hardly grows with their number). A keyword that turns out to
    occur more than once per `_DENSE` bytes (think "th") is dropped from its automaton and searched item by item
    (Arrow's substring search, or a regex in word mode) stopping at each item's first hit, so its cost follows
    the number of items, not of occurrences. The masks live in `cache` (default: the shared
    `KEYWORD_MASKS`), keyed by this index, and leave it when the index is garbage-collected.
    """

    def __init__(self, texts: Sequence[object], *, cache: ArrayLRU | None = None):
        self.present = np.fromiter((isinstance(t, str) for t in texts), dtype=bool, count=len(texts))
        self.present.setflags(write=False)  # shared by sessions
        self._items = np.flatnonzero(self.present)  # positions of the texts held in the buffer
        encoded = [texts[i].lower().encode("utf-8", "surrogatepass") for i in self._items]
        self._buf = _SEP.join(encoded)
        lengths = np.fromiter((len(e) + 1 for e in encoded), dtype=np.int64, count=len(encoded))
        # each item's start, then the buffer's end: item i (with its separator) is buf[bounds[i]:bounds[i + 1]]
        self._bounds = np.concatenate([[0], np.cumsum(lengths[:-1]), [len(self._buf)]] if len(encoded) else [[0]])
        self._bounds = self._bounds.astype(np.int64)
        self._starts = self._bounds[:-1]
        self._bytes = np.frombuffer(self._buf, dtype=np.uint8)
        self._cache = KEYWORD_MASKS if cache is None else cache
        self._id = next(_INDEX_IDS)
        weakref.finalize(self, _forget_index, self._cache, self._id)

    def __len__(self) -> int:
        return len(self.present)

    def hits(self, keyword: str, mode: str) -> np.ndarray:
        """Boolean mask (read-only): the items whose lower-cased text contains `keyword` (substring, or word)."""
        return self.masks([keyword], mode)[0]

    def masks(self, keywords: Sequence[str], mode: str) -> list[np.ndarray]:
        """hits() of every keyword, in order (those not memoised are searched now, and memoised)."""
        lowered = [k.lower() for k in keywords]
        found = {k: self._cache.get((self._id, k, mode)) for k in dict.fromkeys(lowered)}
        todo = [k for k, mask in found.items() if mask is None]
        if todo:  # searched outside any lock: two sessions asking at once both search, and one result is kept
            for kw, mask in zip(todo, self._search(todo, mode), strict=True):
                found[kw] = self._cache.put((self._id, kw, mode), mask)
        return [found[k] for k in lowered]

    def _search(self, keywords: list[str], mode: str) -> list[np.ndarray]:
        patterns = [k.encode("utf-8", "surrogatepass") for k in keywords]
        found = [np.zeros(len(self._items), dtype=bool) for _ in patterns]  # by buffer item
        groups = [range(len(patterns))] if len(patterns) > _SEPARATE else [[i] for i in range(len(patterns))]
        for group in groups if self._buf else []:
            for j in self._scan([patterns[i] for i in group], mode, [found[i] for i in group]):
                self._scan_items(patterns[group[j]], mode, found[group[j]])
        masks = []
        for hit in found:
            mask = np.zeros(len(self.present), dtype=bool)
            mask[self._items[hit]] = True
            masks.append(mask)
        return masks

    def _scan(self, patterns: list[bytes], mode: str, found: list[np.ndarray]) -> list[int]:
        """Aho-Corasick over overlapping windows of the buffer; returns the patterns left to `_scan_items`."""
        from ahocorasick_rs import BytesAhoCorasick

        overlap = max(map(len, patterns)) - 1  # a match crossing a window's end lies whole in the next window
        window = max(_FIRST_WINDOW, 2 * overlap + 1)
        lengths = np.array([len(p) for p in patterns], dtype=np.int64)
        active, dense = list(range(len(patterns))), []
        automaton = BytesAhoCorasick(patterns)
        view, size, pos = memoryview(self._buf), len(self._buf), 0
        while active:
            end = min(pos + window, size)
            # One pattern may skip overlapping matches (twice as fast): which items hold a substring does not
            # depend on them, and a word's occurrences cannot overlap unless the word overlaps itself.
            overlapping = len(active) > 1 or (mode == "word" and _overlaps_itself(patterns[active[0]]))
            matches = automaton.find_matches_as_indexes(view[pos:end], overlapping=overlapping)
            if matches:
                begin = np.fromiter(map(_BEGIN, matches), dtype=np.int64, count=len(matches)) + pos
                which = (np.fromiter(map(_PATTERN, matches), dtype=np.int64, count=len(matches)) if len(active) > 1
                         else np.zeros(len(matches), dtype=np.int64))
                del matches
                counts = np.bincount(which, minlength=len(active))
                if mode == "word":
                    keep = self._bounded_many(begin, begin + lengths[np.asarray(active)[which]])
                    which, begin = which[keep], begin[keep]
                item = np.searchsorted(self._starts, begin, side="right") - 1
                for j in np.flatnonzero(counts):
                    found[active[j]][item[which == j] if len(active) > 1 else item] = True
                many = counts * _DENSE > window
                if many.any():
                    dense += [a for a, d in zip(active, many, strict=True) if d]
                    active = [a for a, d in zip(active, many, strict=True) if not d]
                    if active:
                        automaton = BytesAhoCorasick([patterns[a] for a in active])
            if end >= size:
                break
            pos = end - overlap
            window = max(min(2 * window, _WINDOW), window)
        return dense

    def _scan_items(self, pattern: bytes, mode: str, hit: np.ndarray) -> None:
        """Mark the items containing `pattern`, jumping to the next item after each item's first hit (so the
        cost follows the number of items, not of occurrences)."""
        if mode == "substring":  # Arrow's search, in C++, per item (with its separator, which no keyword holds)
            import pyarrow as pa
            import pyarrow.compute as pc

            items = pa.LargeBinaryArray.from_buffers(pa.large_binary(), len(self._items),
                                                     [None, pa.py_buffer(self._bounds), pa.py_buffer(self._buf)])
            hit |= pc.match_substring(items, pattern).to_numpy(zero_copy_only=False)
            return
        # word: the regex refuses ASCII word characters around the keyword (a lookbehind placed after the literal,
        # so re still scans for the literal fast); other bytes around it are decoded by _bounded
        literal = re.escape(pattern)
        search = re.compile(literal + rb"(?<!" + _ASCII_WORD_CLASS + literal + rb")(?!" + _ASCII_WORD_CLASS
                            + rb")").search
        buf, find, size, at = self._buf, self._buf.find, len(self._buf), array("q")
        pos = 0
        while (m := search(buf, pos)) is not None:
            begin, end = m.start(), m.end()
            if (((begin and buf[begin - 1] >= 0x80) or (end < size and buf[end] >= 0x80))
                    and not self._bounded(begin, end)):
                pos = begin + 1
                continue
            at.append(begin)
            if len(at) >= _FLUSH:
                self._mark(hit, at)
            pos = find(_SEP, end) + 1
            if pos == 0:
                break
        self._mark(hit, at)

    def _mark(self, hit: np.ndarray, at: array) -> None:
        """Mark the items holding the buffer positions `at`, and empty it."""
        if at:
            hit[np.searchsorted(self._starts, np.frombuffer(at, dtype=np.int64), side="right") - 1] = True
            del at[:]

    def _bounded_many(self, begin: np.ndarray, end: np.ndarray) -> np.ndarray:
        """`_bounded` of many matches: decided on ASCII bytes with numpy, decoded only next to other bytes."""
        b, size = self._bytes, len(self._bytes)
        before = np.where(begin > 0, b[np.maximum(begin - 1, 0)], 0)
        after = np.where(end < size, b[np.minimum(end, size - 1)], 0)
        keep = ~(_ASCII_WORD[before] | _ASCII_WORD[after])
        for i in np.flatnonzero(keep & ((before >= 0x80) | (after >= 0x80))):
            keep[i] = self._bounded(int(begin[i]), int(end[i]))
        return keep

    def _bounded(self, start: int, end: int) -> bool:
        """True when the characters around buf[start:end] are not word characters (text edges count as not)."""
        buf = self._buf
        if start > 0:
            lead = start - 1
            while lead > 0 and buf[lead] & 0xC0 == 0x80:  # walk back over UTF-8 continuation bytes
                lead -= 1
            if buf[lead] != 0 and is_word_char(buf[lead:start].decode("utf-8", "surrogatepass")[:1]):
                return False
        if end < len(buf) and buf[end] != 0:
            width = 1 + (buf[end] >= 0xC0) + (buf[end] >= 0xE0) + (buf[end] >= 0xF0)
            if is_word_char(buf[end:end + width].decode("utf-8", "surrogatepass")[:1]):
                return False
        return True


def matches(text: str, keyword: str, mode: str) -> bool:
    """Row-wise reference of TextIndex.hits for one text (used by the snorkel LFs and the examples page)."""
    text, kw = text.lower(), keyword.lower()
    if mode == "substring":
        return kw in text
    i = text.find(kw)
    while i != -1:
        before = text[i - 1] if i > 0 else ""
        after = text[i + len(kw)] if i + len(kw) < len(text) else ""
        if not (before and is_word_char(before)) and not (after and is_word_char(after)):
            return True
        i = text.find(kw, i + 1)
    return False


class LFData:
    """What LFs evaluate over for one split: rows, their features, the books; with memoised work.

    rows: user_idx, book_idx, review_text (the split's frame); features: lfs.features columns, aligned with rows;
    books: book_idx-ordered frame with title and description. `book_idxs` (each row's user's books) is only
    needed by python LFs and is looked up lazily through `user_books`.
    """

    def __init__(self, rows: pd.DataFrame, features: pd.DataFrame, books: pd.DataFrame,
                 user_books: pd.Series | None = None, *, max_columns: int = 512):
        if len(rows) != len(features):
            raise ValueError(f"rows ({len(rows)}) and features ({len(features)}) are not aligned")
        self.rows, self.features, self.books = rows, features, books
        self.user_books = user_books
        self.n = len(rows)
        self.book_idx = rows["book_idx"].to_numpy()
        self._indexes: dict[str, TextIndex] = {}
        self._index_lock = threading.Lock()
        self._columns = ArrayLRU(max_items=max_columns)
        self._derived: dict[Hashable, object] = {}
        self._derived_lock = threading.Lock()

    # -- inputs ---------------------------------------------------------------------------------------------
    def text_index(self, field: str) -> TextIndex:
        with self._index_lock:  # built under the lock: two sessions must not each build a copy of the texts
            if field not in self._indexes:
                source = self.rows[field] if field == "review_text" else self.books[field]
                self._indexes[field] = TextIndex(source.tolist())
            return self._indexes[field]

    def _on_rows(self, field: str, mask: np.ndarray) -> np.ndarray:
        return mask if field == "review_text" else mask[self.book_idx]

    def text_present(self, field: str) -> np.ndarray:
        return self._on_rows(field, self.text_index(field).present)

    def keyword_hits(self, field: str, keyword: str, mode: str) -> np.ndarray:
        """Rows whose `field` contains `keyword` (boolean mask over rows)."""
        return self._on_rows(field, self.text_index(field).hits(keyword, mode))

    def feature(self, name: str) -> np.ndarray:
        return self.features[name].to_numpy(dtype=np.float64)

    def derived(self, key: Hashable, compute):
        """What `compute()` returns, computed once per LFData and key: figures derived from the split alone (not
        from any LF), such as phrase counts or sorted feature values. Computed under the lock, so sessions asking
        at once do not each build a copy."""
        with self._derived_lock:
            if key not in self._derived:
                self._derived[key] = compute()
            return self._derived[key]

    # -- columns --------------------------------------------------------------------------------------------
    def column(self, spec: LFSpec) -> np.ndarray:
        """The LF's votes on every row (int8, -1 = abstain), memoised by the spec's key."""
        key = column_key(spec)
        col = self._columns.get(key)
        if col is None:  # computed outside the lock: sessions asking at once both compute the same column
            col = self._columns.put(key, EVALUATORS[spec.template](spec, self))
        return col

    def clear_columns(self) -> None:
        self._columns.clear()


def label_matrix(specs: Sequence[LFSpec], data: LFData) -> np.ndarray:
    """L: one int8 column per spec, in order (-1 = abstain)."""
    if not specs:
        return np.full((data.n, 0), ABSTAIN, dtype=np.int8)
    return np.column_stack([data.column(s) for s in specs]).astype(np.int8, copy=False)


# -- evaluators -------------------------------------------------------------------------------------------------
def keyword_column(spec: KeywordLF, data: LFData) -> np.ndarray:
    # all masks at once: a cache smaller than the LF's keywords must not evict one before it is read
    masks = iter(data.text_index(spec.field).masks(spec.keywords, spec.match))
    out = np.full(data.n, ABSTAIN, dtype=np.int8)
    undecided = data.text_present(spec.field).copy()
    for rule in spec.rules:
        hit = np.zeros(data.n, dtype=bool)
        for _ in rule.keywords:
            hit |= data._on_rows(spec.field, next(masks))
        hit &= undecided
        out[hit] = rule.label
        undecided &= ~hit
    return out


def threshold_column(spec: ThresholdLF, data: LFData) -> np.ndarray:
    values = data.feature(spec.feature)
    with np.errstate(invalid="ignore"):
        fires = OPS[spec.op](values, spec.value) & ~np.isnan(values)
    return np.where(fires, np.int8(spec.label), np.int8(ABSTAIN)).astype(np.int8)


def python_column(spec: PythonLF, data: LFData) -> np.ndarray:
    """A code-defined snorkel LF, applied row by row by snorkel's PandasLFApplier on rows + features."""
    from snorkel.labeling import PandasLFApplier

    lf = load_python_lf(spec.function)
    frame = pd.concat([data.rows.reset_index(drop=True), data.features.reset_index(drop=True)], axis=1)
    if data.user_books is not None:
        frame["book_idxs"] = data.user_books.to_numpy()
    L = PandasLFApplier([lf]).apply(frame, progress_bar=False)
    return L[:, 0].astype(np.int8)


EVALUATORS = {"keyword": keyword_column, "threshold": threshold_column, "python": python_column}


def load_python_lf(function: str):
    """The snorkel LabelingFunction named "module:attribute" (a module under lfs/).

    Raises ValueError saying what is wrong (config validation calls it, so a config never names code that does
    not load).
    """
    from snorkel.labeling import LabelingFunction

    module_name, _, attr = function.partition(":")
    if not module_name.startswith("lfs.") or not attr:
        raise ValueError(f"python LF function {function!r} must be 'lfs.<module>:<name>'")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # missing, or failing while it runs: either way no LF to apply
        raise ValueError(f"cannot import module {module_name!r} ({type(exc).__name__}: {exc})") from exc
    if not hasattr(module, attr):
        raise ValueError(f"module {module_name!r} has no function {attr!r}")
    lf = getattr(module, attr)
    if not isinstance(lf, LabelingFunction):
        raise ValueError(f"{function!r} is not a snorkel LabelingFunction (decorate it with @labeling_function())")
    return lf


def column_key(spec: LFSpec) -> str:
    """The spec's key; for python LFs also the hash of the module's code, so an edited function recomputes."""
    if isinstance(spec, PythonLF):
        module = importlib.import_module(spec.function.partition(":")[0])
        code = hashlib.sha256(inspect.getsource(module).encode()).hexdigest()
        return f"{spec.key}:{code}"
    return spec.key
