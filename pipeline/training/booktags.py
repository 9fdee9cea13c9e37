"""Books as tag vectors from their Goodreads `popular_shelves` (what readers file a book under: "fantasy",
"dystopian", "romance", ...), for content features of the end model.

A shelf's weight in a book is its share of the book's shelvings times its inverse document frequency
``log(n_books / books_with_the_shelf)``, so shelves nearly every book carries ("to-read", "currently-reading",
"young-adult") weigh next to nothing and genre shelves carry the signal; each book's vector has unit length.
The idf is computed here rather than with scikit-learn's TfidfTransformer, whose smoothed idf never drops below 1
and would leave "to-read" dominating every vector.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import sparse

__all__ = ["MAX_TAGS", "MIN_BOOKS_PER_TAG", "shelf_tags"]

MAX_TAGS = 256  # the shelves carried by most books; the rest are personal ("2015-reads") or rare
MIN_BOOKS_PER_TAG = 5


def shelf_tags(books: pd.DataFrame, *, max_tags: int = MAX_TAGS) -> tuple[np.ndarray, list[str]]:
    """(float32 [n_books, n_tags] unit-length rows, zero for a book without shelves; the tag names).

    books: a prepared books table with ``shelf_names`` (list[str]) and ``shelf_counts`` (list[int]); a table
    without them (prepared by an older version) gives a single zero column.
    """
    n = len(books)
    if "shelf_names" not in books.columns or n == 0:
        return np.zeros((n, 1), np.float32), []
    names = books["shelf_names"].map(lambda v: [] if v is None else list(v))
    counts = books["shelf_counts"].map(lambda v: [] if v is None else list(v))
    lengths = names.map(len).to_numpy()
    rows = np.repeat(np.arange(n), lengths)
    flat_names = pd.Series([s for lst in names for s in lst], dtype=object)
    flat_counts = np.array([c for lst in counts for c in lst], dtype=np.float64)
    if not len(flat_names):
        return np.zeros((n, 1), np.float32), []
    codes, vocab = pd.factorize(flat_names)
    m = sparse.csr_matrix((flat_counts, (rows, codes)), shape=(n, len(vocab)))
    m.sum_duplicates()
    df = np.bincount(m.indices, minlength=len(vocab))
    idf = np.log(n / np.maximum(df, 1))
    eligible = np.flatnonzero((df >= min(MIN_BOOKS_PER_TAG, n)) & (idf > 0))
    keep = eligible[np.argsort(-df[eligible], kind="stable")][:max_tags]
    if not len(keep):
        return np.zeros((n, 1), np.float32), []
    total = np.asarray(m.sum(axis=1)).ravel()
    share = sparse.diags(1.0 / np.maximum(total, 1.0)) @ m[:, keep]
    dense = np.asarray((share @ sparse.diags(idf[keep])).todense(), dtype=np.float64)
    norm = np.linalg.norm(dense, axis=1, keepdims=True)
    dense = np.divide(dense, norm, out=np.zeros_like(dense), where=norm > 0)
    return dense.astype(np.float32), [str(vocab[i]) for i in keep]
