"""Vectorized LF application: specs + per-row features -> label matrix L (n x m, int8, -1 = abstain).

One evaluator per template turns a spec into one column with numpy. `LFData` holds what the evaluators read for
one split (rows, features, book texts) and memoises the expensive parts, so that an edit costs milliseconds:

- keyword hits: each text field is lower-cased once, UTF-8 encoded and joined into one buffer; the rows that
  contain a keyword are found in one Aho-Corasick pass for all new keywords of an LF and memoised per (field,
  mode, keyword), so editing a keyword list only searches the new keywords;
- columns: memoised by the spec's `key` (template + parameters, not the name), so editing one LF recomputes
  one column.

Title and description live on books: they are searched once per book and mapped onto rows by book_idx.
`lfs.snorkel_lfs` builds, for every spec, a row-by-row snorkel LabelingFunction that must agree exactly.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import operator
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np
import pandas as pd

from .spec import ABSTAIN, KeywordLF, LFSpec, PythonLF, ThresholdLF

OPS = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le}
_SEP = b"\x00"  # keywords cannot contain it (config validation), so no match spans two texts


def is_word_char(ch: str) -> bool:
    """What `\\w` matches in Python's re (unicode): alphanumerics and the underscore."""
    return ch.isalnum() or ch == "_"


class TextIndex:
    """Lower-cased texts (None = missing) in one UTF-8 buffer; which items contain a keyword, memoised.

    Keywords not yet memoised are searched together in one pass over the buffer (Aho-Corasick, all overlapping
    matches), so the cost of a search hardly grows with the number of keywords.
    """

    def __init__(self, texts: Sequence[object]):
        self.present = np.fromiter((isinstance(t, str) for t in texts), dtype=bool, count=len(texts))
        self._items = np.flatnonzero(self.present)  # positions of the texts held in the buffer
        encoded = [texts[i].lower().encode("utf-8", "surrogatepass") for i in self._items]
        self._buf = _SEP.join(encoded)
        lengths = np.fromiter((len(e) + 1 for e in encoded), dtype=np.int64, count=len(encoded))
        self._starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]) if len(encoded) else np.zeros(0, np.int64)
        self._memo: dict[tuple[str, str], np.ndarray] = {}

    def __len__(self) -> int:
        return len(self.present)

    def hits(self, keyword: str, mode: str) -> np.ndarray:
        """Boolean mask: the items whose lower-cased text contains `keyword` (as a substring, or as a word)."""
        key = (keyword.lower(), mode)
        if key not in self._memo:
            self.search([keyword], mode)
        return self._memo[key]

    def search(self, keywords: Sequence[str], mode: str) -> None:
        """Memoise the hits of every keyword not seen yet, in one pass over the texts."""
        from ahocorasick_rs import BytesAhoCorasick

        todo = list(dict.fromkeys(k.lower() for k in keywords if (k.lower(), mode) not in self._memo))
        if not todo:
            return
        starts: list[list[int]] = [[] for _ in todo]
        if self._buf:
            automaton = BytesAhoCorasick([k.encode("utf-8", "surrogatepass") for k in todo])
            for pattern, begin, end in automaton.find_matches_as_indexes(self._buf, overlapping=True):
                if mode == "substring" or self._bounded(begin, end):
                    starts[pattern].append(begin)
        for kw, found in zip(todo, starts, strict=True):
            mask = np.zeros(len(self.present), dtype=bool)
            if found:
                item = np.searchsorted(self._starts, np.asarray(found, dtype=np.int64), side="right") - 1
                mask[self._items[item]] = True
            self._memo[(kw, mode)] = mask

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
        self._columns: OrderedDict[str, np.ndarray] = OrderedDict()
        self._max_columns = max_columns

    # -- inputs ---------------------------------------------------------------------------------------------
    def text_index(self, field: str) -> TextIndex:
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

    # -- columns --------------------------------------------------------------------------------------------
    def column(self, spec: LFSpec) -> np.ndarray:
        """The LF's votes on every row (int8, -1 = abstain), memoised by the spec's key."""
        key = column_key(spec)
        col = self._columns.get(key)
        if col is None:
            col = EVALUATORS[spec.template](spec, self)
            col.setflags(write=False)
            self._columns[key] = col
            while len(self._columns) > self._max_columns:
                self._columns.popitem(last=False)
        else:
            self._columns.move_to_end(key)
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
    data.text_index(spec.field).search(spec.keywords, spec.match)
    out = np.full(data.n, ABSTAIN, dtype=np.int8)
    undecided = data.text_present(spec.field).copy()
    for rule in spec.rules:
        hit = np.zeros(data.n, dtype=bool)
        for kw in rule.keywords:
            hit |= data.keyword_hits(spec.field, kw, spec.match)
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
    """The snorkel LabelingFunction named "module:attribute" (a module under lfs/)."""
    from snorkel.labeling import LabelingFunction

    module_name, _, attr = function.partition(":")
    if not module_name.startswith("lfs.") or not attr:
        raise ValueError(f"python LF function {function!r} must be 'lfs.<module>:<name>'")
    lf = getattr(importlib.import_module(module_name), attr, None)
    if not isinstance(lf, LabelingFunction):
        raise ValueError(f"{function!r} is not a snorkel LabelingFunction")
    return lf


def column_key(spec: LFSpec) -> str:
    """The spec's key; for python LFs also the hash of the module's code, so an edited function recomputes."""
    if isinstance(spec, PythonLF):
        module = importlib.import_module(spec.function.partition(":")[0])
        code = hashlib.sha256(inspect.getsource(module).encode()).hexdigest()
        return f"{spec.key}:{code}"
    return spec.key
