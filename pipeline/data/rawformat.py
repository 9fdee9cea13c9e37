"""The Goodreads Young Adult raw format: file names, keys in their real order, and value types.

The three files of RAW_FILES are required; the authors file (OPTIONAL_FILES) is read when present, to show
author names instead of ids. The generator writes all of GENERATED_FILES.

One module states the format so that the loader (which reads it), the synthetic generator (which writes it)
and the tests (which check every generated line against it) cannot drift apart.

In the books and authors files every scalar is a JSON string, numbers and booleans included ("15716", "true"); the
interactions and reviews files use real JSON booleans and integers where noted.
"""

from __future__ import annotations

BOOKS_FILE = "goodreads_books_young_adult.json.gz"
INTERACTIONS_FILE = "goodreads_interactions_young_adult.json.gz"
REVIEWS_FILE = "goodreads_reviews_young_adult.json.gz"
AUTHORS_FILE = "goodreads_book_authors.json.gz"
RAW_FILES = (BOOKS_FILE, INTERACTIONS_FILE, REVIEWS_FILE)
OPTIONAL_FILES = (AUTHORS_FILE,)
GENERATED_FILES = (*RAW_FILES, *OPTIONAL_FILES)

# Goodreads dates, e.g. "Wed Jan 13 13:38:25 -0800 2010"; optional dates are "".
DATE_FORMAT = "%a %b %d %H:%M:%S %z %Y"

# Value kinds used below:
#   "str"            a JSON string
#   "str_list"       a list of JSON strings
#   "shelves"        a list of {"count": str, "name": str}
#   "authors"        a list of {"author_id": str, "role": str}
#   "bool"           a real JSON boolean
#   "int"            a real JSON integer
BOOK_KEYS: dict[str, str] = {
    "isbn": "str",
    "text_reviews_count": "str",
    "series": "str_list",
    "country_code": "str",
    "language_code": "str",
    "popular_shelves": "shelves",
    "asin": "str",
    "is_ebook": "str",
    "average_rating": "str",
    "kindle_asin": "str",
    "similar_books": "str_list",
    "description": "str",
    "format": "str",
    "link": "str",
    "authors": "authors",
    "publisher": "str",
    "num_pages": "str",
    "publication_day": "str",
    "isbn13": "str",
    "publication_month": "str",
    "edition_information": "str",
    "publication_year": "str",
    "url": "str",
    "image_url": "str",
    "book_id": "str",
    "ratings_count": "str",
    "work_id": "str",
    "title": "str",
    "title_without_series": "str",
}

INTERACTION_KEYS: dict[str, str] = {
    "user_id": "str",
    "book_id": "str",
    "review_id": "str",
    "is_read": "bool",
    "rating": "int",
    "review_text_incomplete": "str",
    "date_added": "str",
    "date_updated": "str",
    "read_at": "str",
    "started_at": "str",
}

REVIEW_KEYS: dict[str, str] = {
    "user_id": "str",
    "book_id": "str",
    "review_id": "str",
    "rating": "int",
    "review_text": "str",
    "date_added": "str",
    "date_updated": "str",
    "read_at": "str",
    "started_at": "str",
    "n_votes": "int",
    "n_comments": "int",
}

# One line per author of the whole Goodreads graph (the real file is not limited to YA authors).
AUTHOR_KEYS: dict[str, str] = {
    "average_rating": "str",
    "author_id": "str",
    "text_reviews_count": "str",
    "name": "str",
    "ratings_count": "str",
}

KEYS_BY_FILE: dict[str, dict[str, str]] = {
    BOOKS_FILE: BOOK_KEYS,
    INTERACTIONS_FILE: INTERACTION_KEYS,
    REVIEWS_FILE: REVIEW_KEYS,
    AUTHORS_FILE: AUTHOR_KEYS,
}

# Keys without which a line cannot be used; every other key may be missing (it then reads as empty).
REQUIRED_KEYS: dict[str, tuple[str, ...]] = {
    BOOKS_FILE: ("book_id", "ratings_count", "authors", "title"),
    INTERACTIONS_FILE: ("user_id", "book_id", "rating"),
    REVIEWS_FILE: ("user_id", "book_id", "review_text"),
    AUTHORS_FILE: ("author_id", "name"),
}
