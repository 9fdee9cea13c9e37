"""How varied the review text is, and how the data compares with the real Goodreads YA files.

The figures that tell generated data from real: the share of distinct sentences and of exact-duplicate reviews
in the first `SAMPLE` reviews, review length quartiles in whitespace tokens, the split of ratings 1..5 among
rated interactions and the share of interactions with a review. `fidelity_table` puts them beside the real
files' values (the reference statistics of the UCSD Book Graph's Young Adult subset) with the accepted range.
"""

from __future__ import annotations

import dataclasses
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from itertools import islice

import numpy as np
import pandas as pd

SAMPLE = 50_000
# A sentence ends at . ! or ? followed by space, or at a paragraph break (" \n " in the reviews file).
SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\s*\n\s*")
# The real YA files: review tokens' quartiles, ratings 1..5 among rated interactions, reviews per interaction.
REAL_TOKEN_QUARTILES = (27.0, 74.0, 203.0)
REAL_STAR_SHARES = (0.0196, 0.0592, 0.2229, 0.3587, 0.3396)
REAL_REVIEW_SHARE = 2_389_900 / 34_919_254
# Accepted: distinct sentences >= 0.5 (real reviews are nearly all distinct), duplicates <= 1%, quartiles within
# 10% of the real ones, star shares within 0.03, review share within 25% of the real one.
MIN_DISTINCT_RATIO = 0.5
MAX_DUPLICATE_SHARE = 0.01
QUARTILE_REL_TOL = 0.10
STAR_SHARE_ABS_TOL = 0.03
REVIEW_SHARE_REL_TOL = 0.25


@dataclass(frozen=True)
class TextStats:
    reviews: int
    sentences: int
    distinct_sentence_ratio: float
    duplicate_share: float  # reviews that repeat an earlier review exactly
    token_quartiles: tuple[float, float, float]
    mean_tokens: float

    def to_dict(self) -> dict:
        return {**dataclasses.asdict(self), "token_quartiles": list(self.token_quartiles)}

    @classmethod
    def from_dict(cls, d: dict) -> TextStats:
        return cls(**{**d, "token_quartiles": tuple(d["token_quartiles"])})


def sentences(text: str) -> list[str]:
    return [s for s in SENTENCE_END.split(text) if s.strip()]


def text_stats(texts: Iterable[str], limit: int = SAMPLE) -> TextStats:
    """The variety figures of the first `limit` non-empty texts."""
    sample = list(islice((t for t in texts if isinstance(t, str) and t.strip()), limit))
    if not sample:
        return TextStats(0, 0, float("nan"), float("nan"), (float("nan"),) * 3, float("nan"))
    counts = Counter(s for t in sample for s in sentences(t))
    n_sentences = sum(counts.values())
    repeats = sum(n - 1 for n in Counter(sample).values())
    tokens = np.array([len(t.split()) for t in sample])
    q1, q2, q3 = (float(q) for q in np.percentile(tokens, [25, 50, 75]))
    return TextStats(len(sample), n_sentences, len(counts) / n_sentences, repeats / len(sample), (q1, q2, q3),
                     float(tokens.mean()))


def star_shares(stars: Mapping[str, int]) -> tuple[float, ...]:
    """Shares of ratings 1..5 among rated interactions, from prepare's star counts ({"0": n, "1": n, ...})."""
    rated = [int(stars.get(str(s), 0)) for s in range(1, 6)]
    total = sum(rated)
    return tuple(r / total if total else float("nan") for r in rated)


def fidelity_table(stats: TextStats, counts: Mapping) -> pd.DataFrame:
    """One row per figure: this data's value, the real files' value, the accepted range and whether it holds.
    `counts` is the prepared manifest's counts (stars, reviews_read, interactions_read)."""
    rows = [("distinct sentences", stats.distinct_sentence_ratio, None, f">= {MIN_DISTINCT_RATIO:.0%}",
             stats.distinct_sentence_ratio >= MIN_DISTINCT_RATIO),
            ("exact-duplicate reviews", stats.duplicate_share, None, f"<= {MAX_DUPLICATE_SHARE:.0%}",
             stats.duplicate_share <= MAX_DUPLICATE_SHARE)]
    for name, ours, real in zip(("review tokens Q1", "review tokens median", "review tokens Q3"),
                                stats.token_quartiles, REAL_TOKEN_QUARTILES, strict=True):
        rows.append((name, ours, real, f"±{QUARTILE_REL_TOL:.0%}", abs(ours / real - 1) <= QUARTILE_REL_TOL))
    for s, ours, real in zip(range(1, 6), star_shares(counts.get("stars", {})), REAL_STAR_SHARES, strict=True):
        rows.append((f"{s}-star share of ratings", ours, real, f"±{STAR_SHARE_ABS_TOL:.2f}",
                     abs(ours - real) <= STAR_SHARE_ABS_TOL))
    read = counts.get("interactions_read") or 0
    share = counts.get("reviews_read", 0) / read if read else float("nan")
    rows.append(("reviews per interaction", share, REAL_REVIEW_SHARE, f"±{REVIEW_SHARE_REL_TOL:.0%}",
                 abs(share / REAL_REVIEW_SHARE - 1) <= REVIEW_SHARE_REL_TOL))
    return pd.DataFrame(rows, columns=["figure", "this data", "real files", "accepted", "ok"])
