"""Which rows contain which phrase: the counts keyword suggestions are mined from, built once per split and field.

scikit-learn's CountVectorizer tokenises the texts of the rows with gold into 1-3 word phrases. A token is a
word (apostrophes inside it kept: "didn't") or one punctuation mark; phrases holding punctuation are dropped, so a
phrase never spans a sentence or clause break and a word-mode keyword LF finds it as written. Book fields (title,
description) are tokenised once per book and mapped onto rows by book_idx.

Counting the dev split at seed scale takes several seconds, so `pipeline features` builds the tables beside the
feature cache (`cached_tables`) and the workbench and CLI load them from there; in memory they are kept by the
split's LFData (`phrase_table`), which the workbench shares between sessions.
"""

from __future__ import annotations

import functools
import json
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import sparse

from pipeline.data.files import write_atomic

from .apply import LFData
from .validation import MIN_KEYWORD_LENGTH

log = logging.getLogger(__name__)

MIN_ROWS = 8  # a phrase must occur in at least this many rows with gold to be kept
MAX_NGRAM = 3
TOKEN_PATTERN = r"(?u)\b\w[\w']*\b|[^\w\s]"
_WORDS = re.compile(r"^[\w']+( [\w']+)*$")
PHRASES_VERSION = 1  # bump when the tokenisation or the kept phrases change: cached tables are rebuilt
MINED_SPLITS = ("dev",)  # the splits suggestions are mined from (val is only ever checked, through the engine)


@dataclass
class PhraseTable:
    """Binary phrase occurrences of one text field: `X[i, k]` = row i of the split contains phrase k."""

    phrases: np.ndarray
    X: sparse.csr_matrix

    @functools.cached_property
    def by_phrase(self) -> sparse.csr_matrix:
        """X transposed, row k = the rows with phrase k: `by_phrase @ mask` counts each phrase's rows in a mask."""
        return self.X.T.tocsr()

    @functools.cached_property
    def lengths(self) -> np.ndarray:
        return np.char.str_len(self.phrases.astype(str)) if len(self.phrases) else np.zeros(0, dtype=int)

    def rows_of(self, k: int) -> np.ndarray:
        return self.by_phrase.indices[self.by_phrase.indptr[k]:self.by_phrase.indptr[k + 1]]

    def count(self, mask: np.ndarray) -> np.ndarray:
        """Per phrase, the rows of `mask` (boolean over rows) that contain it."""
        return self.by_phrase @ mask.astype(np.float64)


def build_phrase_table(texts: Sequence[object], rows: np.ndarray | None = None, *, min_rows: int = MIN_ROWS,
                       max_ngram: int = MAX_NGRAM) -> PhraseTable:
    """Phrases of `texts` (missing texts have none) found in at least `min_rows` rows. With `rows` (an index into
    `texts` per row, e.g. book_idx for a book field) the table is over those rows, else over the texts."""
    from sklearn.feature_extraction.text import CountVectorizer

    clean = [t if isinstance(t, str) else "" for t in texts]
    vec = CountVectorizer(ngram_range=(1, max_ngram), token_pattern=TOKEN_PATTERN, lowercase=True, binary=True,
                          dtype=np.int32)
    try:
        X = vec.fit_transform(clean).tocsr()
    except ValueError:  # not one token in any text
        return PhraseTable(np.array([], dtype=str), sparse.csr_matrix((len(clean if rows is None else rows), 0)))
    if rows is not None:
        X = X[rows]
    names = vec.get_feature_names_out()
    keep = np.array([len(p) >= MIN_KEYWORD_LENGTH and _WORDS.match(p) is not None for p in names], dtype=bool)
    keep &= np.asarray(X.sum(axis=0)).ravel() >= min_rows
    cols = np.flatnonzero(keep)
    return PhraseTable(names[cols].astype(str), X[:, cols].tocsr())


def table_for(data: LFData, gold: np.ndarray, text_field: str) -> PhraseTable:
    """Build the table of `text_field` over the rows of `data` that have gold."""
    labelled = ~np.isnan(gold)
    if text_field == "review_text":
        return build_phrase_table(np.where(labelled, data.rows["review_text"].to_numpy(dtype=object), None))
    rows = np.where(labelled, data.book_idx, len(data.books))  # the extra text (none) stands for "no gold"
    return build_phrase_table([*data.books[text_field].tolist(), None], rows)


def phrase_table(data: LFData, gold: np.ndarray, text_field: str) -> PhraseTable:
    """The table of `text_field` for `data`, built once per LFData (or read from disk by `cached_tables`)."""
    return data.derived(("phrases", text_field), lambda: table_for(data, gold, text_field))


# -- on disk, beside the feature cache -----------------------------------------------------------------------
def _meta(fingerprint: str | None, split: str, text_field: str, rows: int) -> dict:
    return {"fingerprint": fingerprint, "split": split, "field": text_field, "rows": rows,
            "version": PHRASES_VERSION, "min_rows": MIN_ROWS, "max_ngram": MAX_NGRAM}


def _paths(folder: Path, split: str, text_field: str) -> tuple[Path, Path]:
    stem = folder / f"phrases-{split}-{text_field}"
    return stem.with_suffix(".npz"), stem.with_suffix(".json")


def _read(folder: Path, want: dict) -> PhraseTable | None:
    matrix, meta = _paths(folder, want["split"], want["field"])
    if not (matrix.is_file() and meta.is_file()):
        return None
    try:
        stored = json.loads(meta.read_text(encoding="utf-8"))
        if {k: stored.get(k) for k in want} != want:
            return None
        X = sparse.load_npz(matrix).tocsr()
        phrases = np.array(stored["phrases"], dtype=str)
        if X.shape != (want["rows"], len(phrases)):
            return None
        return PhraseTable(phrases, X)
    except Exception as e:  # a damaged cache is rebuilt, never fatal
        log.warning("ignoring unreadable phrase table %s: %s", matrix, e)
        return None


def _write(folder: Path, want: dict, table: PhraseTable) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    matrix, meta = _paths(folder, want["split"], want["field"])
    write_atomic(matrix, lambda f: sparse.save_npz(f, table.X))
    # the JSON goes last: a table is only read when its JSON names the same dataset and shape
    body = json.dumps({**want, "phrases": table.phrases.tolist()}, ensure_ascii=False)
    write_atomic(meta, lambda f: f.write(body.encode("utf-8")))


def _read_or_build(data: LFData, gold: np.ndarray, folder: Path, want: dict) -> PhraseTable:
    table = _read(folder, want)
    if table is None:
        table = table_for(data, gold, want["field"])
        try:
            _write(folder, want, table)
        except OSError as e:  # a read-only data folder: keep it in memory only
            log.warning("cannot cache the phrase table of %s/%s in %s: %s", want["split"], want["field"], folder, e)
    return table


def cached_tables(data: LFData, gold: np.ndarray, folder: Path, *, fingerprint: str | None, split: str,
                  fields: Sequence[str]) -> dict[str, PhraseTable]:
    """The tables of `fields` for `data`: kept by it once read from `folder` (when they match this dataset) or
    built and written there, so later calls and `phrase_table` answer at once."""
    return {f: data.derived(("phrases", f), lambda f=f: _read_or_build(data, gold, folder,
                                                                      _meta(fingerprint, split, f, data.n)))
            for f in fields}
