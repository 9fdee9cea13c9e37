"""Every LF spec as an ordinary row-by-row snorkel `LabelingFunction`, computed from the raw row.

These are the reference the vectorized engine (lfs/apply.py) is held equal to: they recompute each feature
from scratch for the row (TextBlob on the text, the user's book set against the books' first authors), so the
parity tests check the feature pipeline and the evaluators together. They are slow by design; the workbench
uses them only to prove equality and as a fallback one can read.

Rows need: book_idx, review_text and book_idxs (the user's books, e.g. `PreparedData.book_idxs_for(rows)`).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from snorkel.labeling import LabelingFunction

from .apply import OPS, load_python_lf, matches
from .spec import ABSTAIN, KeywordLF, LFSpec, PythonLF, ThresholdLF


@dataclass(frozen=True)
class BookFacts:
    """Book lookups a row-wise LF needs: texts and first authors by book_idx, books by first author."""

    books: pd.DataFrame
    first_author: dict
    books_by_author: dict

    @classmethod
    def from_books(cls, books: pd.DataFrame) -> BookFacts:
        first_author = dict(zip(books.book_idx, books.first_author, strict=True))
        by_author: dict = {}
        for b, a in first_author.items():
            if a is not None and a == a:
                by_author.setdefault(a, set()).add(b)
        return cls(books.set_index("book_idx", drop=False), first_author, by_author)


def row_text(x, field: str, facts: BookFacts):
    return x.review_text if field == "review_text" else facts.books.at[x.book_idx, field]


def row_feature(name: str, x, facts: BookFacts) -> float | None:
    """One row's value of a built-in feature, computed from scratch (None = missing)."""
    text = x.review_text
    has_text = isinstance(text, str) and text != ""
    if name in ("polarity", "subjectivity"):
        if not has_text:
            return None
        from textblob import TextBlob

        return getattr(TextBlob(text).sentiment, name)
    if name == "review_length":
        return float(len(text.split())) if has_text else None
    if name == "same_author_count":
        author = facts.first_author[x.book_idx]
        if author is None or author != author:
            return None
        return float(len(set(x.book_idxs).intersection(facts.books_by_author[author])))
    if name == "user_book_count":
        return float(len(x.book_idxs))
    if name == "book_average_rating":
        return float(facts.books.at[x.book_idx, "average_rating"])
    if name == "book_ratings_count":
        return float(facts.books.at[x.book_idx, "ratings_count"])
    raise ValueError(f"unknown feature {name!r}")


def to_snorkel_lf(spec: LFSpec, facts: BookFacts) -> LabelingFunction:
    """A snorkel LabelingFunction deciding row by row exactly as the vectorized evaluator of `spec` does."""
    if isinstance(spec, KeywordLF):
        def keyword(x):
            text = row_text(x, spec.field, facts)
            if not isinstance(text, str):
                return ABSTAIN
            for rule in spec.rules:
                if any(matches(text, kw, spec.match) for kw in rule.keywords):
                    return rule.label
            return ABSTAIN

        return LabelingFunction(spec.name, keyword)
    if isinstance(spec, ThresholdLF):
        compare = OPS[spec.op]

        def threshold(x):
            value = row_feature(spec.feature, x, facts)
            return spec.label if value is not None and compare(value, spec.value) else ABSTAIN

        return LabelingFunction(spec.name, threshold)
    if isinstance(spec, PythonLF):
        return load_python_lf(spec.function)
    raise TypeError(f"not an LF spec: {spec!r}")
