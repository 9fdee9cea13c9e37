"""Tiny raw folders for tests: gzip JSON-lines files written from lists of dicts (or raw text lines).

`book()`, `interaction()`, `review()` and `author()` give one sane record of each file with every key of
`pipeline.data.rawformat` in the real order and the real value types (books, authors: all strings); keyword arguments
override or add keys, and `drop=` removes keys. `write_raw(folder, books=..., interactions=..., reviews=...)` writes
the three files, and the optional authors file when `authors=` is given.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pipeline.data import rawformat

DATE = "Wed Jan 13 13:38:25 -0800 2010"


def user_id(n: int) -> str:
    """A 32-hex user id that is easy to recognise in a failing assertion: user_id(7) -> '000...07'."""
    return f"{n:032x}"


def _record(template: dict[str, Any], keys: dict[str, str], overrides: dict[str, Any],
            drop: Iterable[str]) -> dict[str, Any]:
    assert list(template) == list(keys), "fixture template drifted from pipeline.data.rawformat"
    record = {**template, **overrides}
    for key in drop:
        record.pop(key)
    return record


def book(book_id: str | int = "1", *, ratings_count: int | str = 500, authors: list[str] | None = None,
         drop: Iterable[str] = (), **overrides: Any) -> dict[str, Any]:
    """A books-file record; `authors` is a list of author ids (roles ""), default ["a<book_id>"]."""
    book_id = str(book_id)
    authors = [f"a{book_id}"] if authors is None else authors
    template = {
        "isbn": "0151686564",
        "text_reviews_count": "12",
        "series": [],
        "country_code": "US",
        "language_code": "eng",
        "popular_shelves": [{"count": "15", "name": "to-read"}],
        "asin": "",
        "is_ebook": "false",
        "average_rating": "3.90",
        "kindle_asin": "",
        "similar_books": ["884306", "234"],
        "description": f"About book {book_id}.\nSecond line.",
        "format": "Paperback",
        "link": f"https://www.goodreads.com/book/show/{book_id}",
        "authors": [{"author_id": a, "role": ""} for a in authors],
        "publisher": "Penguin",
        "num_pages": "256",
        "publication_day": "30",
        "isbn13": "9780151686568",
        "publication_month": "8",
        "edition_information": "",
        "publication_year": "2012",
        "url": f"https://www.goodreads.com/book/show/{book_id}",
        "image_url": f"https://images.gr-assets.com/books/{book_id}m.jpg",
        "book_id": book_id,
        "ratings_count": str(ratings_count),
        "work_id": f"w{book_id}",
        "title": f"Book {book_id} (A Series, #1)",
        "title_without_series": f"Book {book_id}",
    }
    return _record(template, rawformat.BOOK_KEYS, overrides, drop)


def interaction(user: str | int = 1, book_id: str | int = "1", rating: int = 0, *, drop: Iterable[str] = (),
                **overrides: Any) -> dict[str, Any]:
    """An interactions-file record; an int `user` is turned into a 32-hex id with user_id()."""
    template = {
        "user_id": user_id(user) if isinstance(user, int) else user,
        "book_id": str(book_id),
        "review_id": f"r{user}-{book_id}",
        "is_read": rating > 0,
        "rating": rating,
        "review_text_incomplete": "",
        "date_added": DATE,
        "date_updated": DATE,
        "read_at": DATE if rating > 0 else "",
        "started_at": "",
    }
    return _record(template, rawformat.INTERACTION_KEYS, overrides, drop)


def review(user: str | int = 1, book_id: str | int = "1", text: str = "4.5 stars. \n Loved it.", *,
           rating: int = 4, drop: Iterable[str] = (), **overrides: Any) -> dict[str, Any]:
    """A reviews-file record."""
    template = {
        "user_id": user_id(user) if isinstance(user, int) else user,
        "book_id": str(book_id),
        "review_id": f"r{user}-{book_id}",
        "rating": rating,
        "review_text": text,
        "date_added": DATE,
        "date_updated": DATE,
        "read_at": DATE,
        "started_at": "",
        "n_votes": 3,
        "n_comments": 1,
    }
    return _record(template, rawformat.REVIEW_KEYS, overrides, drop)


def author(author_id: str | int = "a1", name: str = "Ronald J. Fields", *, drop: Iterable[str] = (),
           **overrides: Any) -> dict[str, Any]:
    """An authors-file record (every value a string, as in the real file)."""
    template = {"average_rating": "3.98", "author_id": str(author_id), "text_reviews_count": "7", "name": name,
                "ratings_count": "49"}
    return _record(template, rawformat.AUTHOR_KEYS, overrides, drop)


def gzip_bytes(lines: Iterable[dict | str]) -> bytes:
    """The gzip bytes of JSON lines: a dict is dumped, a str is written as it is (for malformed lines)."""
    text = "".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines)
    return gzip.compress(text.encode("utf-8"), mtime=0)


def write_lines(path: Path, lines: Iterable[dict | str]) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip_bytes(lines))
    return path


def write_raw(folder: Path, *, books: Iterable[dict | str] = (), interactions: Iterable[dict | str] = (),
              reviews: Iterable[dict | str] = (), authors: Iterable[dict | str] | None = None,
              generated: dict | None = None) -> Path:
    """Write the three raw files into `folder` (the authors file too when `authors` is given, and GENERATED.json
    when `generated` is); return `folder`."""
    folder = Path(folder)
    write_lines(folder / rawformat.BOOKS_FILE, books)
    write_lines(folder / rawformat.INTERACTIONS_FILE, interactions)
    write_lines(folder / rawformat.REVIEWS_FILE, reviews)
    if authors is not None:
        write_lines(folder / rawformat.AUTHORS_FILE, authors)
    if generated is not None:
        (folder / "GENERATED.json").write_text(json.dumps(generated))
    return folder
