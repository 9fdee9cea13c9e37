"""The seed tutorial's five labeling functions, written per row exactly as the tutorial writes them.

This is the reference the project is checked against: the calibration of the synthetic data (and, later, the
vectorized LF engine) must agree with these functions run through snorkel's PandasLFApplier. Keep them as the
tutorial has them, quirks included (`if x.review_text:` is true for NaN, so rows without a review are scored
as the text "nan", which TextBlob gives polarity 0 and subjectivity 0).

`python -m tests.seed_lfs PROCESSED OUT.npz` saves `seed_label_matrices(PROCESSED)` (the tests of the `small`
dataset compute it once per session, in the background: tests/conftest.py).
"""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
from snorkel.labeling.lf import labeling_function
from snorkel.preprocess import preprocessor
from textblob import TextBlob

POSITIVE = 1
NEGATIVE = 0
ABSTAIN = -1

low_rating_strs = [
    "one star",
    "1 star",
    "two star",
    "2 star",
    "3 star",
    "three star",
    "3.5 star",
    "2.5 star",
    "1 out of 5",
    "2 out of 5",
    "3 out of 5",
]
high_rating_strs = ["5 stars", "five stars", "four stars", "4 stars", "4.5 stars"]


def make_seed_lfs(df_books: pd.DataFrame) -> list:
    """The tutorial's LFs, in its order: stars_in_review, shared_first_author, polarity_positive,
    subjectivity_positive, polarity_negative. Rows need book_idx, book_idxs and review_text."""
    book_to_first_author = dict(zip(df_books.book_idx, df_books.first_author, strict=True))
    first_author_to_books_df = df_books.groupby("first_author")[["book_idx"]].agg(set)
    first_author_to_books = dict(zip(first_author_to_books_df.index, first_author_to_books_df.book_idx, strict=True))

    @labeling_function()
    def shared_first_author(x):
        author = book_to_first_author[x.book_idx]
        same_author_books = first_author_to_books[author]
        num_read = len(set(x.book_idxs).intersection(same_author_books))
        return POSITIVE if num_read > 15 else ABSTAIN

    @labeling_function()
    def stars_in_review(x):
        if not isinstance(x.review_text, str):
            return ABSTAIN
        for low_rating_str in low_rating_strs:
            if low_rating_str in x.review_text.lower():
                return NEGATIVE
        for high_rating_str in high_rating_strs:
            if high_rating_str in x.review_text.lower():
                return POSITIVE
        return ABSTAIN

    @preprocessor(memoize=True)
    def textblob_polarity(x):
        if x.review_text:
            x.blob = TextBlob(str(x.review_text))
        else:
            x.blob = None
        return x

    @labeling_function(pre=[textblob_polarity])
    def polarity_positive(x):
        if x.blob:
            if x.blob.polarity > 0.3:
                return POSITIVE
        return ABSTAIN

    @labeling_function(pre=[textblob_polarity])
    def subjectivity_positive(x):
        if x.blob:
            if x.blob.subjectivity > 0.75:
                return POSITIVE
        return ABSTAIN

    @labeling_function(pre=[textblob_polarity])
    def polarity_negative(x):
        if x.blob:
            if x.blob.polarity < 0.0:
                return NEGATIVE
        return ABSTAIN

    return [stars_in_review, shared_first_author, polarity_positive, subjectivity_positive, polarity_negative]


GOLD_SPLITS = ("dev", "val", "test")


def seed_rows(data, split: str) -> pd.DataFrame:
    """The rows of `split` of prepared data as the tutorial's LFs read them (with each user's book_idxs)."""
    rows = data.splits[split]
    return rows.assign(book_idxs=data.book_idxs_for(rows).map(tuple))


def seed_label_matrices(processed_dir) -> dict[str, np.ndarray]:
    """{split: label matrix} of the tutorial's LFs through snorkel's PandasLFApplier, on the dev, val and test rows
    of a prepared folder (row by row: a split's matrix is the same alone or concatenated with others)."""
    from snorkel.labeling import PandasLFApplier

    from pipeline.data.dataset import load_prepared

    data = load_prepared(processed_dir)
    lfs = make_seed_lfs(data.books)
    return {split: PandasLFApplier(lfs).apply(seed_rows(data, split), progress_bar=False) for split in GOLD_SPLITS}


if __name__ == "__main__":
    np.savez(sys.argv[2], **seed_label_matrices(sys.argv[1]))
