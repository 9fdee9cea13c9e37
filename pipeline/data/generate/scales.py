"""Sizes and behaviour parameters of the synthetic Goodreads data, per scale.

`seed` is sized so that the seed tutorial's processing yields at least 600k train and 75k dev labelled rows and
about 30k books after the ratings-count filter; `small` gives about 50k labelled rows for end-to-end tests;
`tiny` a few hundred labelled rows for unit tests. Everything that shapes behaviour (rates, spreads) is shared
by all scales, so what a user tunes on `small` transfers to `seed`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

# Star shares among rated interactions on the whole Goodreads graph (1..5 stars), in percent.
STAR_SHARES = (1.96, 5.92, 22.29, 35.87, 33.96)


@dataclass(frozen=True)
class Scale:
    name: str
    n_books: int
    n_users: int
    # Median interactions per user (all books); lognormal spread below. Both filters (25..200 kept
    # interactions per user; 100..15,000 ratings per book) must bite at every scale.
    user_median_interactions: float = 60.0
    user_sigma: float = 0.8
    n_genres: int = 24
    # Books per author follow a power law; a few authors write long series.
    author_power: float = 1.9
    max_books_per_author: int = 120
    # Global ratings_count of a book: lognormal; the weight of a book in interactions ~ ratings_count ** 0.8.
    ratings_count_median: float = 40.0
    ratings_count_sigma: float = 2.1
    popularity_exponent: float = 0.8
    # Users loyal to one author read a share of that author's catalogue.
    loyal_share: float = 0.3
    loyal_fraction_low: float = 0.3
    loyal_fraction_high: float = 0.7
    loyalty_bonus: float = 0.1
    # Reading, rating and reviewing rates.
    read_rate: float = 0.45
    rated_given_read: float = 0.935
    review_rate_rated: float = 0.153
    review_rate_unrated: float = 0.0097
    review_median_tokens: float = 95.0
    review_sigma: float = 1.3

    def params(self) -> dict:
        return asdict(self)


SCALES: dict[str, Scale] = {
    "tiny": Scale("tiny", n_books=700, n_users=45, ratings_count_median=400.0, ratings_count_sigma=1.6),
    "small": Scale("small", n_books=9_000, n_users=2_900),
    "seed": Scale("seed", n_books=80_000, n_users=44_000),
}


def get_scale(name: str) -> Scale:
    try:
        return SCALES[name]
    except KeyError:
        raise ValueError(f"unknown scale {name!r}: choose one of {', '.join(SCALES)}") from None
