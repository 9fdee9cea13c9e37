"""Synthetic users and their interactions: tastes, author loyalty, reading, rating and reviewing.

Everything is drawn with numpy over whole arrays. A user has a genre taste (a sparse Dirichlet), a reading
volume (lognormal, so that the seed's 25..200 filter bites), and sometimes a favourite author whose catalogue
they read deeply. A rating is a latent score - book quality, the user's taste for the book's genre, loyalty, a
user bias and noise - cut into 1..5 stars at the quantiles of Goodreads' star shares. So the stars are a
function of user taste x book, which an end model can learn from the set of books a user shelved.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipeline.data.generate.catalog import Catalog
from pipeline.data.generate.scales import STAR_SHARES, Scale

DAY = 86_400
FIRST_DAY = 1_199_145_600  # 2008-01-01
LAST_DAY = 1_509_494_400  # 2017-11-01, the end of the crawl
UTC_OFFSETS_MIN = np.array([-480, -420, -300, -240, -360, 0, 60, 120, 330, 600])
UTC_OFFSET_P = np.array([0.35, 0.2, 0.15, 0.1, 0.05, 0.05, 0.04, 0.03, 0.01, 0.02])

# Reviewers are more often unhappy than raters: relative chance of a review per star (1..5).
REVIEW_PROPENSITY_BY_STARS = np.array([1.6, 1.45, 1.2, 0.97, 0.9])


@dataclass(frozen=True)
class Interactions:
    """One row per (user, book) interaction, grouped by user in file order, newest first within a user."""

    user: np.ndarray  # int32 user number
    book: np.ndarray  # int32 book number
    is_read: np.ndarray  # bool
    stars: np.ndarray  # int8, 0 = not rated
    has_review: np.ndarray  # bool
    review_tokens: np.ndarray  # int32 target review length, 0 without review
    date_added: np.ndarray  # int64 epoch seconds
    date_updated: np.ndarray  # int64 epoch seconds
    read_at: np.ndarray  # int64 epoch seconds, -1 = none
    started_at: np.ndarray  # int64 epoch seconds, -1 = none
    utc_offset_min: np.ndarray  # int32 per user: the time zone their dates are written in
    n_users: int


def _group_cdf(group: np.ndarray, weight: np.ndarray, n_groups: int):
    """Items sorted by group, with one cumulative weight array and each group's [start, end) in it."""
    order = np.argsort(group, kind="stable")
    cum = np.cumsum(weight[order])
    bounds = np.searchsorted(group[order], np.arange(n_groups + 1))
    padded = np.concatenate([[0.0], cum])
    return order, (padded[bounds[:-1]], padded[bounds[1:]], cum)


def _draw_in_groups(rng: np.random.Generator, group_of_draw: np.ndarray, order: np.ndarray, cdf) -> np.ndarray:
    """For each draw, one item of its group chosen by weight (inverse CDF on the shared cumulative array)."""
    starts, ends, cum = cdf
    target = starts[group_of_draw] + rng.random(len(group_of_draw)) * (ends - starts)[group_of_draw]
    return order[np.minimum(np.searchsorted(cum, target, side="right"), len(order) - 1)]


def make_interactions(scale: Scale, cat: Catalog, rng: np.random.Generator) -> Interactions:
    n_users, G = scale.n_users, scale.n_genres
    n_authors = int(cat.author.max()) + 1
    # Genre tastes: sparse, tilted towards popular genres.
    genre_pop = np.bincount(cat.genre, weights=cat.weight, minlength=G)
    alpha = 0.35 * genre_pop / genre_pop.mean()
    taste = rng.gamma(np.broadcast_to(alpha, (n_users, G)))
    taste /= taste.sum(1, keepdims=True)
    volume = np.maximum(1, np.round(rng.lognormal(np.log(scale.user_median_interactions), scale.user_sigma,
                                                  n_users))).astype(np.int64)
    volume = np.minimum(volume, 1500)

    # Loyal users: a favourite author among those with at least 8 books, chosen by popularity.
    books_per_author = np.bincount(cat.author, minlength=n_authors)
    author_weight = np.bincount(cat.author, weights=cat.weight, minlength=n_authors) * (books_per_author >= 8)
    loyal = rng.random(n_users) < scale.loyal_share if author_weight.sum() > 0 else np.zeros(n_users, bool)
    favourite = np.full(n_users, -1, dtype=np.int64)
    if loyal.any():
        favourite[loyal] = rng.choice(n_authors, size=int(loyal.sum()), p=author_weight / author_weight.sum())
    # A loyal reader shares the favourite author's main genre.
    author_genre = np.bincount(cat.author.astype(np.int64) * G + cat.genre, minlength=n_authors * G)
    author_genre = author_genre.reshape(n_authors, G).argmax(1)
    taste[loyal, author_genre[favourite[loyal]]] += 0.3
    taste /= taste.sum(1, keepdims=True)
    loyal_n = np.where(loyal, np.round(volume * rng.uniform(scale.loyal_fraction_low, scale.loyal_fraction_high,
                                                            n_users)), 0).astype(np.int64)
    loyal_n = np.minimum(loyal_n, np.where(loyal, books_per_author[np.maximum(favourite, 0)], 0))

    # Taste-driven draws: a genre from the user's taste, then a book of that genre by popularity.
    free_n = volume - loyal_n
    user_of_draw = np.repeat(np.arange(n_users, dtype=np.int64), free_n)
    cum_taste = np.cumsum(taste, axis=1)
    genre_of_draw = np.minimum((cum_taste[user_of_draw] < rng.random(len(user_of_draw))[:, None]).sum(1), G - 1)
    by_genre, cdf = _group_cdf(cat.genre.astype(np.int64), cat.weight, G)
    book_free = _draw_in_groups(rng, genre_of_draw, by_genre, cdf)
    # Loyal draws: books of the favourite author, by popularity (duplicates removed below).
    user_loyal = np.repeat(np.arange(n_users, dtype=np.int64), loyal_n)
    by_author, acdf = _group_cdf(cat.author.astype(np.int64), cat.weight ** 0.3, n_authors)
    book_loyal = _draw_in_groups(rng, favourite[user_loyal], by_author, acdf)

    user = np.concatenate([user_of_draw, user_loyal])
    book = np.concatenate([book_free, book_loyal])
    # One interaction per (user, book); then group by user in a random user order, newest first within user.
    _, first = np.unique(user * cat.n_books + book, return_index=True)
    user, book = user[first], book[first]
    start = rng.uniform(FIRST_DAY, LAST_DAY - 120 * DAY, n_users)
    span = np.minimum(rng.lognormal(np.log(400 * DAY), 0.8, n_users), LAST_DAY - start)
    added = (start[user] + rng.random(len(user)) * span[user]).astype(np.int64)
    order = np.lexsort((-added, rng.permutation(n_users)[user]))
    user, book, added = user[order].astype(np.int32), book[order].astype(np.int32), added[order]

    n = len(user)
    read_rate_u = rng.beta(2.0, 2.0 * (1 - scale.read_rate) / scale.read_rate, n_users)
    is_read = rng.random(n) < read_rate_u[user]
    rated = is_read & (rng.random(n) < scale.rated_given_read)
    # Latent score -> stars at Goodreads' quantiles.
    affinity = np.log(taste[user, cat.genre[book]] + 0.02)
    is_fav = cat.author[book] == favourite[user]
    bias = rng.normal(0.0, 0.45, n_users)
    score = (0.75 * cat.quality[book] + 0.55 * affinity + scale.loyalty_bonus * is_fav + bias[user]
             + rng.normal(0.0, 0.9, n))
    stars = np.zeros(n, dtype=np.int8)
    cut = np.quantile(score[rated], np.cumsum(STAR_SHARES)[:-1] / 100.0)
    stars[rated] = (1 + np.searchsorted(cut, score[rated])).astype(np.int8)
    # Reviews: mostly on rated interactions; some users review far more than others.
    reviewer = rng.lognormal(0.0, 1.0, n_users)
    reviewer /= reviewer.mean()
    star_prop = REVIEW_PROPENSITY_BY_STARS / (REVIEW_PROPENSITY_BY_STARS @ np.array(STAR_SHARES) / 100.0)
    p_review = np.where(rated, scale.review_rate_rated * star_prop[np.maximum(stars, 1) - 1],
                        scale.review_rate_unrated) * reviewer[user]
    has_review = rng.random(n) < np.minimum(p_review, 0.95)
    tokens = np.where(has_review, np.clip(np.round(rng.lognormal(np.log(scale.review_median_tokens),
                                                                  scale.review_sigma, n)), 1, 2800), 0)
    # Dates: updated after added; read_at for most read books; started_at for some of those.
    updated = np.minimum(added + (rng.random(n) < 0.6) * rng.uniform(0, 90 * DAY, n), LAST_DAY).astype(np.int64)
    read_at = np.where(is_read & (rng.random(n) < 0.75),
                       np.minimum(added + rng.uniform(0, 120 * DAY, n), LAST_DAY), -1).astype(np.int64)
    started = np.where((read_at >= 0) & (rng.random(n) < 0.55), read_at - rng.uniform(DAY, 30 * DAY, n),
                       -1).astype(np.int64)
    offsets = rng.choice(UTC_OFFSETS_MIN, size=n_users, p=UTC_OFFSET_P).astype(np.int32)
    return Interactions(user=user, book=book, is_read=is_read, stars=stars, has_review=has_review,
                        review_tokens=tokens.astype(np.int32), date_added=added, date_updated=updated,
                        read_at=read_at, started_at=started, utc_offset_min=offsets, n_users=n_users)
