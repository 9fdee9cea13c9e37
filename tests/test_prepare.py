"""prepare on a hand-made raw folder whose every answer is known; the cache, atomic output, params and CLI."""

from __future__ import annotations

import json
import os
import re

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import pipeline.data.prepare as prepare_module
from pipeline.cli import main
from pipeline.data import rawformat
from pipeline.data.dataset import load_prepared, summarize
from pipeline.data.files import MARKER_FILE
from pipeline.data.prepare import SPLITS, TABLE_FILES, PrepareParams, prepare
from pipeline.data.raw import RawDataError, iter_interactions
from tests.rawfixtures import author, book, interaction, review, user_id, write_lines

# Books in file order with their ratings_count: 10 and 13 fall outside 100..15,000.
BOOKS = [book("10", ratings_count=99), book("11", ratings_count=100), book("12", ratings_count=15_000),
         book("13", ratings_count=15_001), book("14", authors=["x", "y"]), book("15"), book("16"), book("17")]
BOOK_IDX = {"11": 0, "12": 1, "14": 2, "15": 3, "16": 4, "17": 5}

# (user, book, stars); with min/max user interactions 3..5, interactions of dropped books not counting:
#   user 1: 2 kept (book 10 is dropped)     -> dropped
#   user 2: 3 kept                          -> user_idx 0
#   user 3: 5 kept (15 twice; 13 dropped)   -> user_idx 1
#   user 4: 6 kept                          -> dropped
#   user 5: 4 kept                          -> user_idx 2
INTERACTIONS = [
    (1, "10", 5), (1, "11", 4), (1, "12", 0),
    (2, "11", 5), (2, "12", 0), (2, "14", 3),
    (3, "11", 4), (3, "15", 0), (3, "15", 0), (3, "16", 1), (3, "17", 2), (3, "13", 5),
    (4, "11", 1), (4, "12", 2), (4, "14", 3), (4, "15", 4), (4, "16", 5), (4, "17", 0),
    (5, "17", 4), (5, "16", 5), (5, "15", 2), (5, "14", 0),
]
REVIEWS = [
    review(2, "11", "Five stars! \n Loved it."),
    review(2, "12", "Never finished."),  # an unrated interaction: no labelled row to join to
    review(3, "11", "first review"),
    review(3, "11", "second review"),  # same pair again: the first wins
    review(4, "11", "a dropped user"),
    review(5, "10", "a dropped book"),
    review(5, "16", "  whitespace \n kept exactly  "),
]
SMALL = dict(min_user_interactions=3, max_user_interactions=5)
ALL_VAL = dict(test_frac=0.0, dev_frac=0.0, val_frac=0.9)  # every kept user in val, so every row keeps its rating


@pytest.fixture
def raw(make_raw):
    return make_raw(books=BOOKS, interactions=[interaction(u, b, r) for u, b, r in INTERACTIONS], reviews=REVIEWS)


def rows(out, split="val"):
    return pq.read_table(out / TABLE_FILES[split]).to_pandas()


def users(out):
    return pq.read_table(out / TABLE_FILES["users"]).to_pandas()


def test_known_answers(raw, tmp_path):
    out = tmp_path / "processed"
    manifest = prepare(raw, out, PrepareParams(**SMALL, **ALL_VAL))

    books = pq.read_table(out / TABLE_FILES["books"]).to_pandas()
    assert books["book_id"].tolist() == list(BOOK_IDX)  # 99 and 15,001 ratings out; 100 and 15,000 in
    assert books["book_idx"].tolist() == list(range(6))
    assert books.loc[2, "first_author"] == "x" and list(books.loc[2, "authors"]) == ["x", "y"]
    # no authors file: an author's name is its id
    assert books["first_author_name"].tolist() == books["first_author"].tolist()

    u = users(out)
    assert u["user_id"].tolist() == [user_id(2), user_id(3), user_id(5)]
    assert u["user_idx"].tolist() == [0, 1, 2]
    # all kept interactions, rated or not, deduplicated, in file order
    assert [list(b) for b in u["book_idxs"]] == [[0, 1, 2], [0, 3, 4, 5], [5, 4, 3, 2]]
    assert pq.read_schema(out / TABLE_FILES["users"]).field("book_idxs").type.value_type == pa.int32()

    val = rows(out)
    assert list(val.columns) == ["user_idx", "book_idx", "review_text", "rating"]
    got = list(zip(val["user_idx"], val["book_idx"], val["rating"], strict=True))
    # rating 0 rows are not labelled; 1-3 stars -> 0, 4-5 stars -> 1
    assert got == [(0, 0, 1), (0, 2, 0), (1, 0, 1), (1, 4, 0), (1, 5, 0), (2, 5, 1), (2, 4, 1), (2, 3, 0)]
    assert val["review_text"].tolist() == ["Five stars! \n Loved it.", None, "first review", None, None, None,
                                           "  whitespace \n kept exactly  ", None]
    assert (val.dtypes["user_idx"], val.dtypes["book_idx"], val.dtypes["rating"]) == (np.int32, np.int32, np.int8)

    counts = manifest["counts"]
    assert counts["books_total"] == 8 and counts["books_kept"] == 6
    assert counts["interactions_read"] == 22 and counts["interactions_kept"] == 20
    assert counts["users_seen"] == 5 and counts["users_kept"] == 3
    assert counts["labelled_rows"] == {"train": 0, "dev": 0, "val": 8, "test": 0}
    assert counts["reviews_joined"] == 3
    assert counts["positive_share"] == 0.5
    # the kept users' interactions of kept books by stars, repeats included (user 3 shelved book 15 twice)
    assert counts["stars"] == {"0": 4, "1": 1, "2": 2, "3": 1, "4": 2, "5": 2}
    assert manifest["source"] == "real" and "generator" not in manifest
    assert manifest["reused"] is False
    assert rawformat.AUTHORS_FILE not in manifest["inputs"] and counts["books_with_author_name"] == 0


# The optional authors file: kept books' first authors are a11, a12, x, a15, a16, a17 (book 14 is by x and y).
AUTHORS = [author("a11", "Ronald J. Fields"), author("x", "  Zo\u00eb   \u00c5berg "), author("a12", ""),
           author("a11", "A Namesake Line"), author("y", "Co Author"), author("999", "Not In The Books")]
NAMES = ["Ronald J. Fields", "a12", "Zo\u00eb \u00c5berg", "a15", "a16", "a17"]  # no name, or no line: the id


def books_table(out):
    return pq.read_table(out / TABLE_FILES["books"]).to_pandas()


def test_first_author_names_come_from_the_authors_file(raw, tmp_path):
    write_lines(raw / rawformat.AUTHORS_FILE, AUTHORS)
    manifest = prepare(raw, tmp_path / "out", PrepareParams(**SMALL))
    books = books_table(tmp_path / "out")
    assert books["first_author_name"].tolist() == NAMES  # first line of an id wins; whitespace runs collapsed
    assert books["first_author"].tolist() == ["a11", "a12", "x", "a15", "a16", "a17"]
    assert manifest["counts"]["books_with_author_name"] == 2
    assert manifest["inputs"][rawformat.AUTHORS_FILE]["size"] == (raw / rawformat.AUTHORS_FILE).stat().st_size
    assert manifest["bad_lines"][rawformat.AUTHORS_FILE] == 0


def test_a_book_without_authors_has_no_name(make_raw, tmp_path):
    folder = make_raw(books=[book("1", authors=[]), book("2")], interactions=[interaction(1, "1", 4)],
                      authors=[author("a2", "Named")])
    prepare(folder, tmp_path / "out", PrepareParams(min_user_interactions=1))
    assert books_table(tmp_path / "out")["first_author_name"].tolist() == [None, "Named"]


def test_adding_the_authors_file_reprepares(raw, tmp_path):
    out = tmp_path / "out"
    prepare(raw, out, PrepareParams(**SMALL))
    write_lines(raw / rawformat.AUTHORS_FILE, AUTHORS)
    assert prepare(raw, out, PrepareParams(**SMALL))["reused"] is False
    assert books_table(out)["first_author_name"].tolist() == NAMES


def test_a_bad_authors_line_names_file_and_line_or_is_skipped(raw, tmp_path):
    path = write_lines(raw / rawformat.AUTHORS_FILE, [AUTHORS[0], "{oops", author("a12", 12), *AUTHORS[1:]])
    with pytest.raises(RawDataError, match=f"^{re.escape(str(path))}, line 2: not valid JSON"):
        prepare(raw, tmp_path / "out", PrepareParams(**SMALL))
    write_lines(path, [AUTHORS[0], author("a12", 12), *AUTHORS[1:]])
    with pytest.raises(RawDataError, match=f"^{re.escape(str(path))}, line 2: field 'name' must be a string"):
        prepare(raw, tmp_path / "out", PrepareParams(**SMALL))
    write_lines(path, [AUTHORS[0], "{oops", author("a12", 12), *AUTHORS[1:]])
    manifest = prepare(raw, tmp_path / "out", PrepareParams(**SMALL), skip_bad_lines=True)
    assert manifest["bad_lines"][rawformat.AUTHORS_FILE] == 2
    assert books_table(tmp_path / "out")["first_author_name"].tolist() == NAMES


def test_max_interactions_cuts_in_file_order(raw, tmp_path):
    # The 11th kept interaction is user 4's first (user 1's book 10 and user 3's book 13 do not count).
    manifest = prepare(raw, tmp_path / "out", PrepareParams(max_interactions=11, **SMALL, **ALL_VAL))
    counts = manifest["counts"]
    assert counts["interactions_kept"] == 11
    assert counts["interactions_read"] == 13
    assert users(tmp_path / "out")["user_id"].tolist() == [user_id(2), user_id(3)]  # user 4 has 1, user 5 none


def test_reading_stops_at_the_cut(raw, tmp_path, monkeypatch):
    chunks_read = []

    def small_chunks(*args, **kwargs):
        for chunk in iter_interactions(*args, **{**kwargs, "chunk_rows": 3}):
            chunks_read.append(len(chunk))
            yield chunk

    monkeypatch.setattr(prepare_module, "iter_interactions", small_chunks)
    prepare(raw, tmp_path / "out", PrepareParams(max_interactions=4, **SMALL))
    assert sum(chunks_read) == 6  # the cut (4th kept, line 5) is in the second chunk of 3 lines; no more is read


def test_user_filter_boundaries(make_raw, tmp_path):
    # min 25 / max 200 as in the seed: 24 and 201 interactions out, 25 and 200 in.
    sizes = {1: 24, 2: 25, 3: 200, 4: 201}
    books = [book(str(b)) for b in range(300)]
    lines = [interaction(u, str(b), rating=4) for u, n in sizes.items() for b in range(n)]
    raw = make_raw(books=books, interactions=lines)
    manifest = prepare(raw, tmp_path / "out", PrepareParams(**ALL_VAL))
    assert users(tmp_path / "out")["user_id"].tolist() == [user_id(2), user_id(3)]
    assert manifest["counts"]["labelled_rows"]["val"] == 225


@pytest.fixture
def many_users(make_raw):
    books = [book(str(b)) for b in range(5)]
    lines = [interaction(u, str(b), rating=1 + (u + b) % 5) for u in range(40) for b in range(3)]
    return make_raw(books=books, interactions=lines, reviews=[review(7, "1")])


def split_of(out):
    u = users(out)
    return dict(zip(u["user_id"], u["split"], strict=True))


def test_splits_are_disjoint_cover_all_users_and_are_seeded(many_users, tmp_path):
    params = PrepareParams(min_user_interactions=1, test_frac=0.1, dev_frac=0.2, val_frac=0.1, seed=3)
    manifest = prepare(many_users, tmp_path / "a", params)
    counts = manifest["counts"]
    assert counts["users_per_split"] == {"train": 24, "dev": 8, "val": 4, "test": 4}
    tables = {s: rows(tmp_path / "a", s) for s in SPLITS}
    user_sets = [set(tables[s]["user_idx"]) for s in SPLITS]
    assert sum(len(s) for s in user_sets) == len(set().union(*user_sets)) == 40  # disjoint and covering
    assert {s: len(t) for s, t in tables.items()} == counts["labelled_rows"]
    assert "rating" not in tables["train"].columns
    assert all("rating" in tables[s].columns for s in ("dev", "val", "test"))
    u = users(tmp_path / "a")
    for s in SPLITS:
        assert set(u.loc[u["split"] == s, "user_idx"]) == set(tables[s]["user_idx"])

    prepare(many_users, tmp_path / "b", params)
    assert split_of(tmp_path / "a") == split_of(tmp_path / "b")
    for s in SPLITS:
        assert tables[s].equals(rows(tmp_path / "b", s))
    prepare(many_users, tmp_path / "c", PrepareParams(**{**params.to_dict(), "seed": 4}))
    assert split_of(tmp_path / "a") != split_of(tmp_path / "c")


def test_manifest_counts_match_the_tables(many_users, tmp_path):
    out = tmp_path / "out"
    manifest = prepare(many_users, out, PrepareParams(min_user_interactions=1))
    on_disk = json.loads((out / "manifest.json").read_text())
    assert on_disk == {k: v for k, v in manifest.items() if k != "reused"}
    data = load_prepared(out)
    assert data.manifest == on_disk
    counts = manifest["counts"]
    assert counts["labelled_rows"] == {s: len(data.splits[s]) for s in SPLITS}
    assert counts["users_kept"] == len(data.users) == 40
    assert counts["books_kept"] == len(data.books) == 5
    assert counts["user_book_pairs"] == sum(len(b) for b in data.users["book_idxs"])
    assert counts["reviews_joined"] == sum(int(df["review_text"].notna().sum()) for df in data.splits.values()) == 1
    for name in rawformat.RAW_FILES:
        assert manifest["inputs"][name]["size"] == (many_users / name).stat().st_size
        assert len(manifest["inputs"][name]["sha256"]) == 64
    assert manifest["bad_lines"] == dict.fromkeys(rawformat.RAW_FILES, 0)
    assert manifest["params"] == PrepareParams(min_user_interactions=1).to_dict()


def test_dataset_helpers(many_users, tmp_path):
    prepare(many_users, tmp_path / "out", PrepareParams(min_user_interactions=1))
    data = load_prepared(tmp_path / "out")
    dev = data.splits["dev"]
    sets = data.book_idxs_for(dev)
    assert sets.index.equals(dev.index)
    for uidx, s in zip(dev["user_idx"], sets, strict=True):
        assert s is data.users["book_idxs"].iloc[uidx]  # shared, not copied
    offsets, values = data.user_books_csr
    assert list(values[offsets[7]:offsets[8]]) == list(data.users["book_idxs"].iloc[7])
    summary = summarize(data)
    assert summary["users"] == 40 and summary["books"] == 5 and summary["authors"] == 5
    assert summary["rows"] == {s: len(data.splits[s]) for s in SPLITS}
    rated = pd.concat([data.splits[s]["rating"] for s in ("dev", "val", "test")])
    assert summary["positive_share"] == pytest.approx(rated.mean())
    assert summary["review_share"] == pytest.approx(1 / 120)


def test_load_prepared_explains_a_missing_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="run `python -m pipeline prepare` first"):
        load_prepared(tmp_path / "nothing")


def test_synthetic_source_copies_the_generator_marker(make_raw, tmp_path):
    marker = {"generator": "test", "scale": "tiny", "seed": 7}
    raw = make_raw(books=BOOKS, interactions=[interaction(u, b, r) for u, b, r in INTERACTIONS], generated=marker)
    manifest = prepare(raw, tmp_path / "out", PrepareParams(**SMALL))
    assert manifest["source"] == "synthetic" and manifest["generator"] == marker
    # A marker whose file hashes no longer match (real files dropped in) says nothing about the files.
    stale = {**marker, "files": {rawformat.BOOKS_FILE: "0" * 64}}
    (raw / MARKER_FILE).write_text(json.dumps(stale))
    assert prepare(raw, tmp_path / "out", PrepareParams(**SMALL))["source"] == "real"


# ---- cache and atomic output --------------------------------------------------------------------------------


def mtimes(out):
    return {p.name: p.stat().st_mtime_ns for p in out.iterdir()}


def test_cache_is_reused_and_recomputed_when_asked_or_changed(raw, tmp_path):
    out = tmp_path / "out"
    params = PrepareParams(**SMALL)
    first = prepare(raw, out, params)
    before = mtimes(out)
    second = prepare(raw, out, params)
    assert second["reused"] is True and second["fingerprint"] == first["fingerprint"]
    assert mtimes(out) == before

    assert prepare(raw, out, params, force=True)["reused"] is False
    changed = prepare(raw, out, PrepareParams(**SMALL, seed=1))
    assert changed["reused"] is False and changed["params"]["seed"] == 1
    assert changed["fingerprint"] != first["fingerprint"]

    (out / TABLE_FILES["dev"]).unlink()  # a damaged output is rebuilt
    assert prepare(raw, out, PrepareParams(**SMALL, seed=1))["reused"] is False


def test_changed_input_is_recomputed(raw, tmp_path):
    out = tmp_path / "out"
    prepare(raw, out, PrepareParams(**SMALL))
    write_lines(raw / rawformat.REVIEWS_FILE, REVIEWS[:1])
    manifest = prepare(raw, out, PrepareParams(**SMALL))
    assert manifest["reused"] is False and manifest["counts"]["reviews_joined"] == 1


def test_failed_prepare_keeps_the_previous_output(raw, tmp_path, monkeypatch):
    out = tmp_path / "out"
    prepare(raw, out, PrepareParams(**SMALL))
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    broken = [interaction(u, b, r) for u, b, r in INTERACTIONS]
    broken.insert(5, '{"user_id": ')
    write_lines(raw / rawformat.INTERACTIONS_FILE, broken)
    with pytest.raises(RawDataError, match="line 6: not valid JSON"):
        prepare(raw, out, PrepareParams(**SMALL))
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before

    # A failure while writing the new folder (disk full, say) leaves no half-written folder either.
    calls = []
    write_table = pq.write_table

    def failing_write(table, path, **kwargs):
        calls.append(path)
        if len(calls) == 3:
            raise OSError("No space left on device")
        return write_table(table, path, **kwargs)

    monkeypatch.setattr(prepare_module.pq, "write_table", failing_write)
    with pytest.raises(OSError, match="No space left"):
        prepare(raw, out, PrepareParams(**SMALL), skip_bad_lines=True)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert sorted(os.listdir(tmp_path)) == ["out", "raw"]  # no temporary folder left behind


def test_refuses_to_replace_a_foreign_folder(raw, tmp_path):
    out = tmp_path / "my_documents"
    out.mkdir()
    (out / "thesis.txt").write_text("precious")
    with pytest.raises(ValueError, match="refusing to replace"):
        prepare(raw, out, PrepareParams(**SMALL))
    assert (out / "thesis.txt").read_text() == "precious"


def test_skip_bad_lines_counts_per_file(raw, tmp_path):
    lines = [interaction(u, b, r) for u, b, r in INTERACTIONS]
    write_lines(raw / rawformat.INTERACTIONS_FILE, [*lines[:3], "garbage", interaction(9, "11", rating=6), *lines[3:]])
    manifest = prepare(raw, tmp_path / "out", PrepareParams(**SMALL, **ALL_VAL), skip_bad_lines=True)
    assert manifest["bad_lines"][rawformat.INTERACTIONS_FILE] == 2
    assert manifest["counts"]["labelled_rows"]["val"] == 8


# ---- params --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kwargs, field", [
    ({"test_frac": 1.0}, "test_frac"),
    ({"dev_frac": -0.1}, "dev_frac"),
    ({"val_frac": "0.1"}, "val_frac"),
    ({"test_frac": 0.4, "dev_frac": 0.4, "val_frac": 0.2}, "test_frac + dev_frac + val_frac"),
    ({"min_book_ratings": 20_000}, "min_book_ratings must be <= max_book_ratings"),
    ({"min_user_interactions": 300}, "min_user_interactions must be <= max_user_interactions"),
    ({"max_interactions": 0}, "max_interactions"),
    ({"min_user_interactions": 0}, "min_user_interactions"),
    ({"max_book_ratings": 1.5}, "max_book_ratings"),
    ({"seed": True}, "seed"),
    ({"seed": -1}, "seed"),
])
def test_params_validation_names_the_field(kwargs, field):
    with pytest.raises(ValueError) as err:
        PrepareParams(**kwargs)
    assert str(err.value).startswith(field)


# ---- CLI -----------------------------------------------------------------------------------------------------


def test_cli_prepare_and_summary(raw, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["prepare", "--raw", str(raw), "--out", str(out), "--min-user-interactions", "3",
                 "--max-user-interactions", "5", "--test-frac", "0", "--dev-frac", "0", "--val-frac", "0.9"]) == 0
    printed = capsys.readouterr().out
    assert "users" in printed and "val" in printed and "source          real" in printed
    assert json.loads((out / "manifest.json").read_text())["params"]["val_frac"] == 0.9
    assert main(["summary", "--processed", str(out)]) == 0
    assert "labelled rows   8" in capsys.readouterr().out


def test_cli_bad_file_exits_2_with_the_message(raw, tmp_path, capsys):
    write_lines(raw / rawformat.BOOKS_FILE, [BOOKS[0], book("x", is_ebook="maybe")])
    code = main(["prepare", "--raw", str(raw), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2
    assert f"error: {raw / rawformat.BOOKS_FILE}, line 2: field 'is_ebook'" in err
    assert "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_cli_errors_for_params_and_missing_data(raw, tmp_path, capsys):
    assert main(["prepare", "--raw", str(raw), "--out", str(tmp_path / "o"), "--test-frac", "1.5"]) == 2
    assert "error: test_frac must be" in capsys.readouterr().err
    assert main(["summary", "--processed", str(tmp_path / "none")]) == 2
    assert "run `python -m pipeline prepare` first" in capsys.readouterr().err
    (raw / rawformat.REVIEWS_FILE).unlink()
    assert main(["prepare", "--raw", str(raw), "--out", str(tmp_path / "o")]) == 2
    assert f"error: {rawformat.REVIEWS_FILE} is missing: put it in {raw}" in capsys.readouterr().err
