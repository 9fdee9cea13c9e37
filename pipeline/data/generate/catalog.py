"""The synthetic book catalogue: authors with catalogues of power-law size, series, genres, popularity.

`make_catalog` draws every book's latent facts as numpy arrays (genre, author, quality, ratings_count, ...);
`book_record` turns one book into the 29-key dict of the real books file, every scalar a string.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np

from pipeline.data.generate.scales import Scale

GENRES = (
    "fantasy", "romance", "contemporary", "dystopian", "paranormal", "science-fiction", "mystery",
    "historical-fiction", "horror", "lgbt", "thriller", "adventure", "humor", "magic", "vampires",
    "mythology", "realistic-fiction", "poetry", "graphic-novels", "retellings", "steampunk", "sports",
    "christian", "short-stories",
)
ADJECTIVES = (
    "Crimson", "Silent", "Hidden", "Broken", "Golden", "Wicked", "Lost", "Burning", "Frozen", "Shattered",
    "Midnight", "Hollow", "Secret", "Wild", "Last", "Falling", "Glass", "Iron", "Silver", "Darkest",
    "Bright", "Endless", "Forgotten", "Stolen", "Little", "Savage", "Sweet", "Radiant", "Cursed", "Rebel",
)
NOUNS = (
    "Crown", "Heart", "Kingdom", "Shadow", "Storm", "Queen", "Throne", "Sky", "Fire", "Star", "Rose", "Sea",
    "Secret", "Promise", "Song", "City", "Summer", "Witch", "Blade", "Night", "Moon", "Thief", "Wolf", "Game",
    "Truth", "Ashes", "Dream", "Island", "Mirror", "Whisper", "Girl", "Boy", "Winter", "Light", "Bones",
)
FIRST_NAMES = ("Mara", "Jonah", "Zoë", "Kai", "Amélie", "Theo", "Ivy", "Nadia", "Eli", "Rowan", "Tess", "Finn")
PUBLISHERS = (
    "HarperTeen", "Simon Pulse", "Scholastic", "Little, Brown Books for Young Readers", "Bloomsbury",
    "Penguin", "Razorbill", "Delacorte Press", "Tor Teen", "Disney-Hyperion", "Balzer + Bray", "",
)
FORMATS = ("Paperback", "Hardcover", "Kindle Edition", "ebook", "Mass Market Paperback", "")
LANGUAGES = ("eng", "", "en-US", "en-GB", "spa", "ger", "fre")
LANGUAGE_P = (0.52, 0.3, 0.09, 0.04, 0.02, 0.015, 0.015)
NO_PHOTO = "https://s.gr-assets.com/assets/nophoto/book/111x148-bcc042a9c91a29c1d680899eff700a03.png"
BLURBS = (
    "{name} never wanted to be a hero.",
    "In a world where the {noun} decides who lives and who dies, one girl will risk everything.",
    "Some secrets are meant to stay buried.",
    "{name} has spent her whole life in the shadow of the {noun}.",
    "When a stranger arrives in town, {name} must decide who to trust.",
    "A sweeping story of love, loss and the courage to begin again.",
    "The war is over, but for {name} the fight has just begun.",
    "From the bestselling author comes a breathtaking new adventure.",
    "Nothing is what it seems at {noun} Academy.",
    "Perfect for fans of Sarah J. Maas and Leigh Bardugo.",
)


@dataclass(frozen=True)
class Catalog:
    """Latent facts of every book, as arrays indexed by book number (0..n_books-1)."""

    book_id: np.ndarray  # int64, unique Goodreads-like ids
    author: np.ndarray  # int32, index into author_id
    author_id: np.ndarray  # int64, unique ids per author
    genre: np.ndarray  # int16
    quality: np.ndarray  # float32, drives ratings and average_rating
    ratings_count: np.ndarray  # int64, the global Goodreads count (what the seed's filter reads)
    weight: np.ndarray  # float64, relative chance of being shelved by a user
    series: np.ndarray  # int32, -1 when standalone
    series_pos: np.ndarray  # int16, 1-based position in the series
    series_id: np.ndarray  # int64, ids per series

    @property
    def n_books(self) -> int:
        return len(self.book_id)


def _unique_ids(rng: np.random.Generator, n: int, low: int, high: int) -> np.ndarray:
    ids = rng.choice(np.arange(low, high, dtype=np.int64), size=n, replace=False) if high - low < 5 * n \
        else np.unique(rng.integers(low, high, size=int(n * 1.3)))
    ids = rng.permutation(ids)[:n]
    assert len(ids) == n
    return ids


def make_catalog(scale: Scale, rng: np.random.Generator) -> Catalog:
    n = scale.n_books
    # Catalogue sizes per author: power law, cumulated until every book has an author.
    sizes = []
    k = np.arange(1, scale.max_books_per_author + 1)
    p = k ** -scale.author_power
    p /= p.sum()
    while sum(sizes) < n:
        sizes.extend(rng.choice(k, size=max(16, n // 4), p=p).tolist())
    sizes = np.array(sizes)
    sizes = sizes[: np.searchsorted(np.cumsum(sizes), n) + 1]
    sizes[-1] -= sizes.sum() - n
    n_authors = len(sizes)
    author = np.repeat(np.arange(n_authors, dtype=np.int32), sizes)
    # Authors mostly keep to one genre; genre sizes are skewed (fantasy and romance dominate YA).
    genre_p = 1.0 / np.arange(1, scale.n_genres + 1) ** 0.8
    genre_p /= genre_p.sum()
    author_genre = rng.choice(scale.n_genres, size=n_authors, p=genre_p)
    genre = np.where(rng.random(n) < 0.85, author_genre[author], rng.choice(scale.n_genres, size=n, p=genre_p))
    # Popularity: an author effect shared by the catalogue plus a book effect; prolific authors sell more.
    author_pop = rng.normal(0.0, 0.8, n_authors) + 0.25 * np.log(sizes)
    log_rc = (np.log(scale.ratings_count_median) + author_pop[author]
              + rng.normal(0.0, np.sqrt(max(scale.ratings_count_sigma**2 - 0.8**2, 0.1)), n))
    ratings_count = np.maximum(1, np.round(np.exp(log_rc))).astype(np.int64)
    weight = ratings_count.astype(np.float64) ** scale.popularity_exponent
    quality = (0.6 * rng.normal(0.0, 1.0, n_authors)[author] + 0.8 * rng.normal(0.0, 1.0, n)).astype(np.float32)
    # Series: consecutive books of an author, in runs of 2..7 (longer for prolific authors).
    series = np.full(n, -1, dtype=np.int32)
    series_pos = np.zeros(n, dtype=np.int16)
    start = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    n_series = 0
    for a in np.flatnonzero(sizes >= 2):
        i, end = int(start[a]), int(start[a] + sizes[a])
        while i < end - 1:
            run = int(min(end - i, rng.integers(2, 8) if sizes[a] < 15 else rng.integers(3, 40)))
            if rng.random() < 0.7 and run >= 2:
                series[i:i + run] = n_series
                series_pos[i:i + run] = np.arange(1, run + 1)
                n_series += 1
            i += run
    # Shuffle book order so that an author's books are not adjacent in the file.
    order = rng.permutation(n)
    return Catalog(
        book_id=_unique_ids(rng, n, 1, 36_000_000),
        author=author[order],
        author_id=_unique_ids(rng, n_authors, 1, 17_000_000),
        genre=genre[order].astype(np.int16),
        quality=quality[order],
        ratings_count=ratings_count[order],
        weight=weight[order],
        series=series[order],
        series_pos=series_pos[order],
        series_id=_unique_ids(rng, max(n_series, 1), 40_000, 1_200_000),
    )


def _title(rng: random.Random) -> str:
    form = rng.random()
    if form < 0.3:
        return f"The {rng.choice(ADJECTIVES)} {rng.choice(NOUNS)}"
    if form < 0.55:
        return f"{rng.choice(NOUNS)} of {rng.choice(NOUNS)}s"
    if form < 0.7:
        return f"A {rng.choice(NOUNS)} of {rng.choice(NOUNS)} and {rng.choice(NOUNS)}"
    if form < 0.85:
        return f"{rng.choice(ADJECTIVES)} {rng.choice(NOUNS)}"
    return rng.choice(NOUNS)


def series_names(n_series: int, rng: random.Random) -> list[str]:
    kinds = ("Trilogy", "Chronicles", "Saga", "Series", "Cycle")
    return [f"The {rng.choice(ADJECTIVES)} {rng.choice(NOUNS)} {rng.choice(kinds)}" if rng.random() < 0.6
            else rng.choice(NOUNS) for _ in range(n_series)]


def book_record(cat: Catalog, b: int, rng: random.Random, series_name: list[str],
                similar: list[int], coauthor_ids: list[int]) -> dict:
    """The books-file record of book number `b`: every one of the 29 keys, every scalar a string."""
    book_id = int(cat.book_id[b])
    title_ws = _title(rng)
    s = int(cat.series[b])
    title = f"{title_ws} ({series_name[s]}, #{int(cat.series_pos[b])})" if s >= 0 else title_ws
    rc = int(cat.ratings_count[b])
    avg = min(5.0, max(1.0, 3.9 + 0.28 * float(cat.quality[b]) + rng.gauss(0.0, 0.08)))
    authors = [{"author_id": str(int(cat.author_id[cat.author[b]])), "role": ""}]
    for a in coauthor_ids:
        authors.append({"author_id": str(a), "role": rng.choice(("", "", "Illustrator", "Translator", "Editor"))})
    g = GENRES[int(cat.genre[b]) % len(GENRES)]
    shelves = [("to-read", int(rc * rng.uniform(0.8, 2.5)) + 1), ("young-adult", int(rc * rng.uniform(0.1, 0.5)) + 1),
               (g, int(rc * rng.uniform(0.05, 0.4)) + 1), ("currently-reading", int(rc * rng.uniform(0.01, 0.1)))]
    shelves += [(name, int(rc * rng.uniform(0.005, 0.08))) for name in
                rng.sample(("fiction", "ya", "favorites", "owned", "books-i-own", "series", "kindle", "library",
                            "teen", "ya-fiction", "romance", "fantasy", "audiobook", "wish-list"), rng.randint(2, 9))]
    shelves = sorted(dict(reversed(shelves)).items(), key=lambda kv: -kv[1])  # one count per shelf name
    name = rng.choice(FIRST_NAMES)
    noun = rng.choice(NOUNS)
    blurb = [rng.choice(BLURBS).format(name=name, noun=noun) for _ in range(rng.randint(1, 4))]
    description = "\n".join(blurb) if rng.random() < 0.95 else ""
    isbn = "".join(str(rng.randrange(10)) for _ in range(9)) + str(rng.randrange(10)) if rng.random() < 0.6 else ""
    kindle = f"B00{rng.randrange(10**7):07d}" if rng.random() < 0.4 else ""
    year = rng.randint(1995, 2017) if rng.random() < 0.9 else None
    slug = title_ws.replace(" ", "_")
    photo = f"https://images.gr-assets.com/books/{rng.randrange(10**9, 2 * 10**9)}m/{book_id}.jpg"
    image = NO_PHOTO if rng.random() < 0.15 else photo
    return {
        "isbn": isbn,
        "text_reviews_count": str(max(0, int(rc * rng.uniform(0.03, 0.12)))),
        "series": [str(int(cat.series_id[s]))] if s >= 0 else [],
        "country_code": "US",
        "language_code": rng.choices(LANGUAGES, weights=LANGUAGE_P)[0],
        "popular_shelves": [{"count": str(c), "name": nm} for nm, c in shelves if c > 0],
        "asin": f"B01{rng.randrange(10**7):07d}" if rng.random() < 0.05 else "",
        "is_ebook": "true" if rng.random() < 0.3 else "false",
        "average_rating": f"{avg:.2f}",
        "kindle_asin": kindle,
        "similar_books": [str(x) for x in similar],
        "description": description,
        "format": rng.choice(FORMATS),
        "link": f"https://www.goodreads.com/book/show/{book_id}-{slug.lower().replace('_', '-')}",
        "authors": authors,
        "publisher": rng.choice(PUBLISHERS),
        "num_pages": str(rng.randint(120, 720)) if rng.random() < 0.85 else "",
        "publication_day": str(rng.randint(1, 28)) if year and rng.random() < 0.7 else "",
        "isbn13": ("978" + isbn[:9] + str(rng.randrange(10))) if isbn else "",
        "publication_month": str(rng.randint(1, 12)) if year and rng.random() < 0.8 else "",
        "edition_information": rng.choice(("", "", "", "", "First Edition", "Special Edition")),
        "publication_year": str(year) if year else "",
        "url": f"https://www.goodreads.com/book/show/{book_id}.{slug}",
        "image_url": image,
        "book_id": str(book_id),
        "ratings_count": str(rc),
        "work_id": str(book_id * 7 % 90_000_000 + 1),
        "title": title,
        "title_without_series": title_ws,
    }
