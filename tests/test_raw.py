"""The raw loader: typing of string-encoded values, and clear errors (file, line, field) for bad input."""

from __future__ import annotations

import gzip
import json
import re
import sys

import numpy as np
import pandas as pd
import pytest

from pipeline.data import raw, rawformat
from pipeline.data.raw import (
    INTERACTION_COLUMNS,
    LoadStats,
    RawDataError,
    iter_authors,
    iter_interactions,
    iter_reviews,
    read_authors,
    read_books,
    read_reviews,
)
from tests.rawfixtures import author, book, gzip_bytes, interaction, review, user_id

BOOKS = rawformat.BOOKS_FILE
INTERACTIONS = rawformat.INTERACTIONS_FILE


def books_of(make_raw, *records, **kw):
    frame, stats = read_books(make_raw(books=records), **kw)
    return frame, stats


# ---- typing -------------------------------------------------------------------------------------------------


def test_booleans_are_parsed_not_truthy(make_raw):
    frame, _ = books_of(make_raw, book("1", is_ebook="false"), book("2", is_ebook="true"), book("3", is_ebook=""),
                        book("4", is_ebook=True))
    assert str(frame["is_ebook"].dtype) == "boolean"
    assert frame["is_ebook"].tolist() == [False, True, pd.NA, True]


def test_numbers_are_parsed_from_strings_and_empty_is_missing(make_raw):
    frame, _ = books_of(make_raw,
                        book("1", ratings_count="15716", average_rating="4.09", num_pages="56"),
                        book("2", ratings_count=120, average_rating="", num_pages="", text_reviews_count=""),
                        book("3", average_rating=3.5, num_pages=300, publication_year="1982"))
    assert frame["ratings_count"].dtype == np.int64
    assert frame["ratings_count"].tolist() == [15716, 120, 500]
    assert frame["average_rating"].iloc[0] == pytest.approx(4.09)
    assert np.isnan(frame["average_rating"].iloc[1])
    assert frame["average_rating"].iloc[2] == 3.5
    assert str(frame["num_pages"].dtype) == "Int64"
    assert frame["num_pages"].tolist() == [56, pd.NA, 300]
    assert frame["text_reviews_count"].tolist() == [12, pd.NA, 12]
    assert frame["publication_year"].iloc[2] == 1982


def test_ids_and_lists(make_raw):
    frame, _ = books_of(make_raw,
                        book("7", authors=["18540", "21578"], series=["1070125"]),
                        book("8", authors=[]))
    assert frame["book_id"].tolist() == ["7", "8"]
    assert frame["authors"].iloc[0] == ["18540", "21578"]
    assert frame["first_author"].tolist() == ["18540", None]
    assert frame["author_roles"].iloc[0] == ["", ""]
    assert frame["series"].tolist() == [["1070125"], []]
    assert frame["similar_books"].iloc[0] == ["884306", "234"]
    assert frame["description"].iloc[0] == "About book 7.\nSecond line."
    assert frame["shelf_names"].iloc[0] == ["to-read"] and frame["shelf_counts"].iloc[0] == [15]


def test_unknown_keys_are_ignored_and_optional_keys_may_be_missing(make_raw):
    frame, stats = books_of(make_raw, book("1", shiny_new_key={"x": [1]}),
                            book("2", drop=["is_ebook", "series", "description", "average_rating", "popular_shelves"]))
    assert stats.lines == 2 and stats.bad_lines == 0
    row = frame.iloc[1]
    assert row["is_ebook"] is pd.NA
    assert row["series"] == []
    assert row["description"] == ""
    assert np.isnan(row["average_rating"])
    assert row["shelf_names"] == [] and row["shelf_counts"] == []
    assert "shiny_new_key" not in frame.columns


def test_interactions_chunks_and_types(make_raw):
    lines = [interaction(u, str(b), rating=r) for u, b, r in [(1, 5, 4), (1, 6, 0), (2, 5, 5), (2, 7, 1), (3, 5, 3)]]
    folder = make_raw(interactions=lines)
    chunks = list(iter_interactions(folder, chunk_rows=2))
    assert [len(c) for c in chunks] == [2, 2, 1]
    frame = pd.concat(chunks, ignore_index=True)
    assert list(frame.columns) == list(INTERACTION_COLUMNS)
    assert frame["rating"].dtype == np.int8
    assert frame["rating"].tolist() == [4, 0, 5, 1, 3]
    assert frame["is_read"].tolist() == [True, False, True, True, True]
    assert frame["user_id"].iloc[2] == user_id(2)
    assert frame["book_id"].tolist() == ["5", "6", "5", "7", "5"]
    only = next(iter_interactions(folder, columns=["book_id", "rating"]))
    assert list(only.columns) == ["book_id", "rating"]
    with pytest.raises(ValueError, match="unknown column"):
        iter_interactions(folder, columns=["nope"])


def test_reviews_keep_text_exactly(make_raw):
    text = "4.5 stars. \n HOLY (view spoiler)[ x (hide spoiler)] \u00e9\u2764 &amp; <br />  "
    frame, stats = read_reviews(make_raw(reviews=[review(1, "9", text, n_votes=28), review(2, "9", "", rating=0)]))
    assert frame["review_text"].tolist() == [text, ""]
    assert frame["n_votes"].tolist() == [28, 3]
    assert frame["rating"].tolist() == [4, 0]
    assert stats.lines == 2
    assert [len(c) for c in iter_reviews(make_raw(name="r2", reviews=[review()] * 3), chunk_rows=2)] == [2, 1]


def test_authors_strings_are_typed(make_raw):
    folder = make_raw(authors=[author("604031", "Ronald J. Fields"),
                               author("7", "Zo\u00eb \u00c5berg", average_rating="", ratings_count="0"),
                               author("8", "", text_reviews_count=12, extra_key="ignored")])
    frame, stats = read_authors(folder)
    assert list(frame.columns) == ["author_id", "name", "average_rating", "ratings_count", "text_reviews_count"]
    assert frame["author_id"].tolist() == ["604031", "7", "8"]
    assert frame["name"].tolist() == ["Ronald J. Fields", "Zo\u00eb \u00c5berg", ""]
    assert frame["average_rating"].iloc[0] == pytest.approx(3.98) and np.isnan(frame["average_rating"].iloc[1])
    assert frame["ratings_count"].tolist() == [49, 0, 49] and str(frame["ratings_count"].dtype) == "Int64"
    assert frame["text_reviews_count"].tolist() == [7, 7, 12]
    assert (stats.lines, stats.bad_lines) == (3, 0)
    only = next(iter_authors(folder, columns=["author_id", "name"]))
    assert list(only.columns) == ["author_id", "name"]


def test_bad_authors_lines_name_file_and_line_or_are_skipped(make_raw):
    lines = [author("1"), "{not json", author("3", drop=["name"]), author("", "No Id"), author("5", ratings_count="x"),
             author("6")]
    folder = make_raw(authors=lines)
    path = folder / rawformat.AUTHORS_FILE
    with pytest.raises(RawDataError) as err:
        read_authors(folder)
    assert str(err.value).startswith(f"{path}, line 2: not valid JSON")
    cases = {3: "required key 'name' is missing", 4: "field 'author_id' must be a non-empty string, got ''",
             5: "field 'ratings_count' must be an integer >= 0 (or a string holding one), got 'x'"}
    for line, problem in cases.items():
        one = make_raw(name=f"bad{line}", authors=[author("1"), lines[line - 1]])
        with pytest.raises(RawDataError) as err:
            read_authors(one)
        assert str(err.value) == f"{one / rawformat.AUTHORS_FILE}, line 2: {problem}"
    frame, stats = read_authors(folder, skip_bad_lines=True)
    assert frame["author_id"].tolist() == ["1", "6"]
    assert (stats.lines, stats.bad_lines) == (6, 4)


def test_empty_file_gives_empty_typed_frame(make_raw):
    frame, stats = read_books(make_raw(books=[]))
    assert len(frame) == 0 and stats.lines == 0
    assert "first_author" in frame.columns and frame["ratings_count"].dtype == np.int64


# ---- errors --------------------------------------------------------------------------------------------------


def test_bad_boolean_names_file_line_and_field(make_raw):
    folder = make_raw(books=[book("1"), book("2", is_ebook="maybe")])
    with pytest.raises(RawDataError) as err:
        read_books(folder)
    assert str(err.value) == (f"{folder / BOOKS}, line 2: field 'is_ebook' must be \"true\", \"false\" or \"\", "
                              "got 'maybe'")


@pytest.mark.parametrize("key, value, expected", [
    ("ratings_count", "many", "field 'ratings_count' must be an integer >= 0"),
    ("ratings_count", "", "field 'ratings_count' must be an integer >= 0"),
    ("num_pages", "12.5", "field 'num_pages' must be an integer"),
    ("average_rating", "4,1", "field 'average_rating' must be a number from 0 to 5"),
    ("series", "1070125", "field 'series' must be a list of strings"),
    ("authors", [{"role": "x"}], "field 'authors' must be a list of"),
    ("title", 17, "field 'title' must be a string"),
    ("book_id", "", "field 'book_id' must be a non-empty string"),
    ("popular_shelves", [{"count": "many", "name": "x"}], "field 'popular_shelves' must be a list of"),
    ("popular_shelves", [{"count": "1" * 400, "name": "x"}], "field 'popular_shelves' must be a list of"),
    ("popular_shelves", [{"count": "-3", "name": "x"}], "field 'popular_shelves' must be a list of"),
    ("popular_shelves", [{"count": "3"}], "field 'popular_shelves' must be a list of"),
    ("popular_shelves", {"count": "3", "name": "x"}, "field 'popular_shelves' must be a list of"),
])
def test_bad_values_are_reported(make_raw, key, value, expected):
    bad = book("3")
    bad[key] = value
    folder = make_raw(books=[book("1"), book("2"), bad])
    with pytest.raises(RawDataError, match=re.escape(f"{folder / BOOKS}, line 3: {expected}")):
        read_books(folder)


def test_interaction_rating_out_of_range(make_raw):
    folder = make_raw(interactions=[interaction(1, "1", 4), interaction(1, "2", rating=9)])
    expected = "line 2: field 'rating' must be an integer from 0 to 5 (or a string holding one), got 9"
    with pytest.raises(RawDataError, match=re.escape(expected)):
        list(iter_interactions(folder))


def test_malformed_json_names_file_and_line(make_raw):
    folder = make_raw(interactions=[interaction(1, "1"), interaction(1, "2"), '{"user_id": "x" "book_id": "1"}'])
    with pytest.raises(RawDataError) as err:
        list(iter_interactions(folder))
    assert str(err.value) == (f"{folder / INTERACTIONS}, line 3: not valid JSON "
                              "(Expecting ',' delimiter: column 17)")


@pytest.mark.parametrize("line, problem", [
    ('{"a": 1} {"b": 2}', "not valid JSON (Extra data: column 10)"),
    ("[1, 2]", "expected a JSON object, got list"),
    ("nope", "not valid JSON (Expecting value: column 1)"),
])
def test_other_bad_lines(make_raw, line, problem):
    folder = make_raw(interactions=[interaction(), line])
    with pytest.raises(RawDataError, match=re.escape(f"line 2: {problem}")):
        list(iter_interactions(folder))


def test_invalid_utf8_names_line(make_raw):
    folder = make_raw(interactions=[interaction()])
    (folder / INTERACTIONS).write_bytes(gzip.compress(b'{"user_id": "\xff"}\n'))
    with pytest.raises(RawDataError, match=r"line 1: not valid UTF-8"):
        list(iter_interactions(folder))


def test_missing_required_key_names_key_file_and_line(make_raw):
    folder = make_raw(books=[book("1"), book("2"), book("3"), book("4"), book("5"), book("6"),
                             book("7", drop=["book_id"])])
    with pytest.raises(RawDataError) as err:
        read_books(folder)
    assert str(err.value) == f"{folder / BOOKS}, line 7: required key 'book_id' is missing"


def test_skip_bad_lines_skips_and_counts(make_raw):
    folder = make_raw(books=[book("1"), "{not json", book("3", drop=["title"]), "[]", book("5", is_ebook="maybe"),
                             book("6", ratings_count="x"), book("7")])
    frame, stats = read_books(folder, skip_bad_lines=True)
    assert frame["book_id"].tolist() == ["1", "7"]
    assert (stats.lines, stats.bad_lines) == (7, 5)


def test_skip_bad_lines_in_chunks(make_raw):
    lines = [interaction(1, "1", 1), "oops", interaction(1, "2", rating=7), interaction(1, "3", 2),
             interaction(2, "1", 3)]
    stats = LoadStats(path=None)
    chunks = list(iter_interactions(make_raw(interactions=lines), chunk_rows=2, skip_bad_lines=True, stats=stats))
    assert pd.concat(chunks)["rating"].tolist() == [1, 2, 3]
    assert (stats.lines, stats.bad_lines) == (5, 2)


def test_blank_lines_are_ignored_but_counted_in_line_numbers(make_raw):
    folder = make_raw(books=[book("1"), "", "   ", book("4", is_ebook="nope")])
    with pytest.raises(RawDataError, match="line 4: field 'is_ebook'"):
        read_books(folder)
    frame, stats = read_books(make_raw(name="ok", books=[book("1"), "", book("3")]))
    assert len(frame) == 2 and stats.lines == 2 and stats.bad_lines == 0


def test_missing_file_names_file_and_folder(make_raw):
    folder = make_raw(books=[book()])
    (folder / rawformat.REVIEWS_FILE).unlink()
    with pytest.raises(RawDataError) as err:
        read_reviews(folder)
    name = rawformat.REVIEWS_FILE
    assert str(err.value) == f"{name} is missing: put it in {folder} (expected {folder / name})"


def test_truncated_gzip_is_a_clear_error(make_raw):
    # Incompressible lines, so that the cut lands after the first decompressed block.
    lines = [interaction(i, str(i), review_text_incomplete=np.random.default_rng(i).bytes(300).hex())
             for i in range(3000)]
    folder = make_raw(interactions=lines)
    data = gzip_bytes(lines)
    (folder / INTERACTIONS).write_bytes(data[: len(data) * 3 // 4])
    with pytest.raises(RawDataError) as err:
        list(iter_interactions(folder, skip_bad_lines=True))
    message = str(err.value)
    assert message.startswith(f"{folder / INTERACTIONS}: the gzip stream is truncated or corrupt after line ")
    assert "(Compressed file ended before the end-of-stream marker was reached)" in message
    after = int(re.search(r"after line (\d+)", message).group(1))
    assert 0 < after < 3000


def test_not_a_gzip_file(make_raw):
    folder = make_raw(books=[book()])
    (folder / BOOKS).write_text('{"book_id": "1"}\n')
    with pytest.raises(RawDataError, match=re.escape(f"{folder / BOOKS}: not a gzip file")):
        read_books(folder)


def test_truncated_gzip_before_the_first_complete_line(make_raw):
    # One long incompressible first line, cut halfway: no complete line comes out before the stream ends.
    first = interaction(1, "1", review_text_incomplete=np.random.default_rng(0).bytes(50_000).hex())
    folder = make_raw(interactions=[first, interaction(2, "2")])
    data = gzip_bytes([first, interaction(2, "2")])
    for cut in (len(data) // 2, 12):  # inside the first line; inside the gzip header
        (folder / INTERACTIONS).write_bytes(data[:cut])
        with pytest.raises(RawDataError) as err:
            list(iter_interactions(folder, skip_bad_lines=True))
        assert str(err.value) == (f"{folder / INTERACTIONS}: the gzip stream is truncated or corrupt before the "
                                  "first complete line (Compressed file ended before the end-of-stream marker was "
                                  "reached)")


# ---- lines Python's json cannot hold: huge integers, deep nesting ------------------------------------------


@pytest.fixture
def default_int_digits():
    """Python's default int string conversion limit (4300 digits), whatever PYTHONINTMAXSTRDIGITS says."""
    before = sys.get_int_max_str_digits()
    sys.set_int_max_str_digits(4300)
    yield
    sys.set_int_max_str_digits(before)


def _with_number(record: dict, key: str, digits: str) -> str:
    """`record` as a JSON line whose `key` is the bare JSON number `digits`."""
    return json.dumps({**record, key: 0}).replace(f'"{key}": 0', f'"{key}": {digits}')


# (file, good line maker, a numeric field its reader converts, reader returning (frame, stats))
FILE_CASES = {
    "books": (BOOKS, lambda i: book(str(i)), "ratings_count",
              lambda folder, **kw: read_books(folder, **kw)),
    "interactions": (INTERACTIONS, lambda i: interaction(i, str(i), 3), "rating",
                     lambda folder, **kw: _frame_and_stats(iter_interactions, folder, **kw)),
    "reviews": (rawformat.REVIEWS_FILE, lambda i: review(i, str(i)), "n_votes",
                lambda folder, **kw: _frame_and_stats(iter_reviews, folder, **kw)),
}


def _frame_and_stats(iterate, folder, **kw):
    stats = LoadStats(path=None)
    return pd.concat(list(iterate(folder, stats=stats, **kw)), ignore_index=True), stats


@pytest.mark.parametrize("kind", ["400 digits", "5000 digits", "100000 ["])
@pytest.mark.parametrize("file", list(FILE_CASES))
def test_unholdable_json_is_a_bad_line(make_raw, default_int_digits, file, kind):
    name, good, key, read = FILE_CASES[file]
    if kind == "100000 [":
        line, problem = "[" * 100_000, "unreadable JSON (arrays or objects nested too deeply)"
    elif kind == "400 digits":  # parses, but overflows a float: a bad value of its field
        line, problem = _with_number(good(2), key, "9" * 400), f"field '{key}' must be "
    else:  # past Python's int string conversion limit: json cannot parse it
        line, problem = _with_number(good(2), key, "9" * 5000), "unreadable JSON (an integer longer than 4,300 digits)"
    folder = make_raw(**{file: [good(1), line, good(3)]})
    with pytest.raises(RawDataError) as err:
        read(folder)
    assert str(err.value).startswith(f"{folder / name}, line 2: {problem}")
    frame, stats = read(folder, skip_bad_lines=True)
    assert len(frame) == 2 and (stats.lines, stats.bad_lines) == (3, 1)


def test_a_huge_integer_in_an_unread_key_is_ignored(make_raw):
    frame, stats = books_of(make_raw, book("1"), _with_number(book("2"), "isbn", "9" * 400))
    assert frame["book_id"].tolist() == ["1", "2"] and stats.bad_lines == 0


@pytest.mark.parametrize("depth", [900, 960, 980, 990, 995, 999, 1001])
def test_values_nested_near_the_recursion_limit_are_bad_values(make_raw, depth):
    # Parsed or not, a deeply nested value is reported as a bad line, never a RecursionError (showing it in the
    # message recurses too).
    folder = make_raw(books=[book("1"), json.dumps(book("2"))[:-1] + ', "title": ' + "[" * depth + "]" * depth + "}"])
    with pytest.raises(RawDataError, match=re.escape(f"{folder / BOOKS}, line 2: ")):
        read_books(folder)
    frame, stats = read_books(folder, skip_bad_lines=True)
    assert frame["book_id"].tolist() == ["1"] and stats.bad_lines == 1


# ---- line length ---------------------------------------------------------------------------------------------


def _write_books_bytes(folder, payload: bytes):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / BOOKS).write_bytes(gzip.compress(payload, compresslevel=1, mtime=0))


def test_a_stream_without_newlines_stops_at_the_line_cap(tmp_path, monkeypatch):
    monkeypatch.setattr(raw, "MAX_LINE_BYTES", 1 << 20)  # the real 16 MB cap works the same, only slower to test
    folder = tmp_path / "raw"
    _write_books_bytes(folder, b'{"book_id": "' + b"7" * (20 << 20))  # one 20 MB line, no newline at all
    with pytest.raises(RawDataError) as err:
        read_books(folder)
    assert str(err.value) == (f"{folder / BOOKS}, line 1: line longer than 1 MB, the longest the loader reads "
                              "(is this a JSON-lines file?)")
    frame, stats = read_books(folder, skip_bad_lines=True)
    assert len(frame) == 0 and (stats.lines, stats.bad_lines) == (1, 1)
    # The error comes as the line passes the cap, not after reading the rest of the stream: damage further on
    # is never reached.
    data = (folder / BOOKS).read_bytes()
    (folder / BOOKS).write_bytes(data[: len(data) * 3 // 4])
    with pytest.raises(RawDataError, match=re.escape(f"{folder / BOOKS}, line 1: line longer than 1 MB")):
        read_books(folder)


@pytest.mark.parametrize("block, cap", [(1 << 20, 5_000), (1_000, 20_000)])  # inside one block; across blocks
def test_long_lines_are_bad_lines_and_the_cap_is_inclusive(tmp_path, monkeypatch, block, cap):
    monkeypatch.setattr(raw, "_BLOCK_BYTES", block)
    monkeypatch.setattr(raw, "MAX_LINE_BYTES", cap)
    at_cap = json.dumps(book("1", description=""))
    at_cap = at_cap.replace('"description": ""', '"description": "' + "d" * (cap - len(at_cap)) + '"')
    assert len(at_cap) == cap
    lines = [at_cap, json.dumps(book("2")), "x" * (cap + 1), json.dumps(book("4")), "y" * (3 * cap),
             json.dumps(book("6", is_ebook="maybe")), json.dumps(book("7"))]
    folder = tmp_path / "raw"
    _write_books_bytes(folder, "\n".join(lines).encode())
    frame, stats = read_books(folder, skip_bad_lines=True)
    assert frame["book_id"].tolist() == ["1", "2", "4", "7"]
    assert (stats.lines, stats.bad_lines) == (7, 3)
    with pytest.raises(RawDataError, match=re.escape(f"{folder / BOOKS}, line 3: line longer than {cap:,} bytes")):
        read_books(folder)


def test_a_line_spanning_thousands_of_blocks_is_read_whole(tmp_path, monkeypatch):
    # 4 MB in 512-byte blocks: the pieces are joined once (concatenating the growing line with every block would
    # copy about 16 GB; bench.data_pipeline shows the speed, tests never time it).
    monkeypatch.setattr(raw, "_BLOCK_BYTES", 512)
    folder = tmp_path / "raw"
    _write_books_bytes(folder, json.dumps(book("1", description="z" * (4 << 20))).encode())
    frame, _ = read_books(folder)
    assert len(frame["description"].iloc[0]) == 4 << 20
