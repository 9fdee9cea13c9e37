"""The synthetic generator writes the real raw format, reproducibly, with the structure the LFs rely on."""

from __future__ import annotations

import dataclasses
import gzip
import json
import random
import re
from datetime import datetime

import numpy as np
import pytest

from pipeline.cli import main
from pipeline.data import rawformat
from pipeline.data.ensure import ensure_data
from pipeline.data.files import read_marker, sha256_file
from pipeline.data.generate import GENERATOR_VERSION, MARKER_FILE, generate, get_scale
from pipeline.data.generate.authors import TRADITIONS, author_names
from pipeline.data.generate.reviews import compose_review, star_phrase
from pipeline.data.raw import RawDataError
from tests.rawfixtures import book, gzip_bytes, interaction, review, write_lines

KIND_CHECKS = {
    "str": lambda v: isinstance(v, str),
    "str_list": lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v),
    "shelves": lambda v: isinstance(v, list) and all(set(x) == {"count", "name"} and isinstance(x["count"], str)
                                                     and isinstance(x["name"], str) for x in v),
    "authors": lambda v: isinstance(v, list) and len(v) >= 1 and all(
        set(x) == {"author_id", "role"} and isinstance(x["author_id"], str) and isinstance(x["role"], str) for x in v),
    "bool": lambda v: isinstance(v, bool),
    "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
}


def _lines(path):
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f]


@pytest.fixture(scope="module")
def tiny_raw(tmp_path_factory):
    out = tmp_path_factory.mktemp("raw")
    report = generate(out, "tiny", seed=7)
    return out, report


def test_every_line_has_every_key_with_the_real_type(tiny_raw):
    out, _ = tiny_raw
    for name, keys in rawformat.KEYS_BY_FILE.items():
        records = _lines(out / name)
        assert records, name
        for i, rec in enumerate(records, 1):
            assert list(rec) == list(keys), f"{name} line {i}: keys {list(rec)}"
            for key, kind in keys.items():
                assert KIND_CHECKS[kind](rec[key]), f"{name} line {i}: {key}={rec[key]!r} is not {kind}"


def test_books_scalars_are_strings_that_parse(tiny_raw):
    out, _ = tiny_raw
    for rec in _lines(out / rawformat.BOOKS_FILE):
        assert rec["is_ebook"] in ("true", "false")
        int(rec["ratings_count"])
        float(rec["average_rating"])
        assert rec["num_pages"] == "" or int(rec["num_pages"]) > 0


def test_reviews_share_ids_with_interactions_and_dates_parse(tiny_raw):
    out, report = tiny_raw
    inter = _lines(out / rawformat.INTERACTIONS_FILE)
    reviews = _lines(out / rawformat.REVIEWS_FILE)
    assert len(inter) == report.interactions and len(reviews) == report.reviews > 0
    by_id = {r["review_id"]: r for r in inter}
    assert len(by_id) == len(inter), "review_id is unique per interaction"
    for rev in reviews:
        it = by_id[rev["review_id"]]
        assert (it["user_id"], it["book_id"], it["rating"]) == (rev["user_id"], rev["book_id"], rev["rating"])
        assert it["review_text_incomplete"], "an interaction with a review shows its HTML preview"
        assert it["date_added"] == rev["date_added"]
    for rec in inter:
        assert len(rec["user_id"]) == 32 and int(rec["user_id"], 16) >= 0
        for key in ("date_added", "date_updated", "read_at", "started_at"):
            if rec[key] or key in ("date_added", "date_updated"):
                datetime.strptime(rec[key], rawformat.DATE_FORMAT)


def test_interactions_grouped_by_user_newest_first(tiny_raw):
    out, _ = tiny_raw
    inter = _lines(out / rawformat.INTERACTIONS_FILE)
    seen, last_user, last_date = set(), None, None
    for rec in inter:
        when = datetime.strptime(rec["date_added"], rawformat.DATE_FORMAT)
        if rec["user_id"] != last_user:
            assert rec["user_id"] not in seen, "a user's interactions are contiguous"
            seen.add(rec["user_id"])
            last_user, last_date = rec["user_id"], when
            continue
        assert when <= last_date
        last_date = when


def test_review_preview_is_raw_html_cut_with_ellipsis(tiny_raw):
    out, _ = tiny_raw
    previews = [r["review_text_incomplete"] for r in _lines(out / rawformat.INTERACTIONS_FILE)
                if r["review_text_incomplete"]]
    assert any(p.endswith("...") for p in previews)
    assert all(len(p) <= 303 for p in previews)
    reviews = [r["review_text"] for r in _lines(out / rawformat.REVIEWS_FILE)]
    assert any(" \n " in t for t in reviews), "paragraphs are joined by ' \\n '"


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path, tiny_raw):
    out, _ = tiny_raw
    generate(tmp_path / "again", "tiny", seed=7)
    generate(tmp_path / "other", "tiny", seed=8)
    for name in (*rawformat.GENERATED_FILES, MARKER_FILE):
        assert (tmp_path / "again" / name).read_bytes() == (out / name).read_bytes(), name
    for name in (rawformat.INTERACTIONS_FILE, rawformat.AUTHORS_FILE):
        assert (tmp_path / "other" / name).read_bytes() != (out / name).read_bytes(), name


def test_marker_records_scale_seed_and_file_hashes(tiny_raw):
    out, _ = tiny_raw
    marker = json.loads((out / MARKER_FILE).read_text())
    assert marker["scale"] == "tiny" and marker["seed"] == 7
    assert marker["files"] == {name: sha256_file(out / name) for name in rawformat.GENERATED_FILES}


def test_authors_file_has_one_line_per_author_of_the_books_file(tiny_raw):
    out, _ = tiny_raw
    books = _lines(out / rawformat.BOOKS_FILE)
    authors = _lines(out / rawformat.AUTHORS_FILE)  # keys and string values: the first test of this file
    ids = [a["author_id"] for a in authors]
    assert len(ids) == len(set(ids))
    assert set(ids) == {a["author_id"] for b in books for a in b["authors"]}
    assert any(len(b["authors"]) > 1 for b in books), "co-authors are listed too"
    # counts are those of the author's books (each book once, co-authored ones included)
    by_id = {a["author_id"]: a for a in authors}
    some = authors[0]["author_id"]
    theirs = [b for b in books if some in {a["author_id"] for a in b["authors"]}]
    assert by_id[some]["ratings_count"] == str(sum(int(b["ratings_count"]) for b in theirs))
    assert by_id[some]["text_reviews_count"] == str(sum(int(b["text_reviews_count"]) for b in theirs))
    for rec in authors:
        assert 1.0 <= float(rec["average_rating"]) <= 5.0 and int(rec["ratings_count"]) > 0
    names = [a["name"] for a in authors]
    assert len(set(names)) > 0.95 * len(names) and all(n.strip() == n and n for n in names)


def test_author_names_are_varied_and_seeded():
    names = author_names(3000, seed=7)
    assert names == author_names(3000, seed=7) and names != author_names(3000, seed=8)
    assert len(set(names)) > 0.97 * len(names)
    forms = {
        "initials only": r"[A-Z]\.[A-Z]\. \S.*",
        "middle initial": r"\S+ [A-Z]\. \S.*",
        "accented": r".*[^\x00-\x7f].*",
        "one-word pen name": r"\S+",
        "suffix": r".* (Jr\.|Sr\.|III)",
    }
    for form, pattern in forms.items():
        assert any(re.fullmatch(pattern, n) for n in names), form
    spanish = set(TRADITIONS["spanish"][2])
    assert any(len(n.split()) == 3 and set(n.split()[1:]) <= spanish for n in names), "two Spanish surnames"
    assert len({n.split()[-1] for n in names}) > 150, "surnames from many traditions"


def test_unknown_scale_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown scale 'huge'"):
        get_scale("huge")


def test_star_phrases_cover_seed_and_other_forms():
    rng = random.Random(0)
    phrases = {star_phrase(v, rng, 0.5) for v in (1.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0) for _ in range(40)}
    assert {"4.5 stars", "3.5/5 stars", "4/5"} <= phrases
    assert any("\u2605" in p for p in phrases)
    assert "five stars" in phrases or "Five Stars" in phrases


def test_reviews_vary_and_carry_real_world_noise():
    rng = random.Random(3)
    texts = [compose_review(int(s), int(n), rng) for s, n in zip(
        np.random.default_rng(0).integers(1, 6, 3000), np.random.default_rng(1).lognormal(4.5, 1.3, 3000),
        strict=True)]
    assert len(set(texts)) > 2700, "one-line reactions repeat, the rest do not"
    joined = "\n".join(texts)
    for marker in ("(view spoiler)[", "(hide spoiler)]", "** spoiler alert **", "\u00eb", " \n "):
        assert marker in joined, marker


# ---- never overwrite files the generator did not write -------------------------------------------------------

MICRO = dataclasses.replace(get_scale("tiny"), name="micro", n_books=200, n_users=12)  # another scale, quick


def _contents(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_generate_refuses_a_folder_with_real_files(tmp_path, capsys):
    raw = tmp_path / "raw"
    real = write_lines(raw / rawformat.BOOKS_FILE, [book("1"), book("2")])  # no GENERATED.json: someone's data
    before = _contents(raw)
    with pytest.raises(RawDataError) as err:
        generate(raw, "tiny", seed=1)
    assert str(err.value) == (f"refusing to overwrite raw files the generator did not write: {real} (there is no "
                              f"{MARKER_FILE} next to it). Choose another --out folder, or move the file(s) away")
    assert _contents(raw) == before, "nothing written, not even the other two files or temp files"
    assert main(["generate", "--scale", "tiny", "--out", str(raw)]) == 2
    assert f"error: refusing to overwrite raw files the generator did not write: {real}" in capsys.readouterr().err
    assert _contents(raw) == before


@pytest.mark.parametrize("change", ["edited file", "file not listed", "unreadable marker"])
def test_generate_refuses_files_its_marker_does_not_vouch_for(tmp_path, change):
    raw = tmp_path / "raw"
    generate(raw, MICRO, seed=1)
    marker_path = raw / MARKER_FILE
    reviews = raw / rawformat.REVIEWS_FILE
    if change == "edited file":  # e.g. real reviews dropped over the generated ones
        write_lines(reviews, [review(1, "1")])
        why = f"its sha256 is not the one {MARKER_FILE} records"
    elif change == "file not listed":
        marker = json.loads(marker_path.read_text())
        del marker["files"][rawformat.REVIEWS_FILE]
        marker_path.write_text(json.dumps(marker))
        why = f"{MARKER_FILE} does not list it"
    else:
        marker_path.write_text("[" * 100_000)
        why = f"{MARKER_FILE} there is unreadable"
    before = _contents(raw)
    with pytest.raises(RawDataError) as err:
        generate(raw, "tiny", seed=2)
    message = str(err.value)
    assert message.startswith("refusing to overwrite raw files the generator did not write: ")
    assert f"{reviews} ({why})" in message  # an unreadable marker vouches for none: all four are named
    assert message.count(str(raw)) == (4 if change == "unreadable marker" else 1)
    assert _contents(raw) == before


def test_generate_replaces_its_own_files_at_another_scale(tmp_path):
    raw = tmp_path / "raw"
    generate(raw, MICRO, seed=1)
    micro_books = (raw / rawformat.BOOKS_FILE).read_bytes()
    report = generate(raw, "tiny", seed=1)
    assert report.scale == "tiny" and (raw / rawformat.BOOKS_FILE).read_bytes() != micro_books
    marker = json.loads((raw / MARKER_FILE).read_text())
    assert marker["scale"] == "tiny"
    assert marker["files"] == {name: sha256_file(raw / name) for name in rawformat.GENERATED_FILES}
    assert sorted(p.name for p in raw.iterdir()) == sorted([*rawformat.GENERATED_FILES, MARKER_FILE])


def test_ensure_data_regenerates_its_own_files_of_an_older_generator(tmp_path):
    raw = tmp_path / "raw"
    ensure_data(tmp_path, scale="tiny", seed=0)
    reviews = (raw / rawformat.REVIEWS_FILE).read_bytes()
    marker = json.loads((raw / MARKER_FILE).read_text())
    marker["version"] = GENERATOR_VERSION - 1
    (raw / MARKER_FILE).write_text(json.dumps(marker))  # the files are the generator's, of an older version
    (raw / rawformat.REVIEWS_FILE).write_bytes(reviews)
    ensure_data(tmp_path, scale="tiny", seed=0)
    assert json.loads((raw / MARKER_FILE).read_text())["version"] == GENERATOR_VERSION
    assert (raw / rawformat.REVIEWS_FILE).read_bytes() == reviews  # same seed, same generator: same bytes


def test_ensure_data_refuses_to_regenerate_over_an_edited_file(tmp_path):
    raw = tmp_path / "raw"
    generate(raw, MICRO, seed=1)
    inter = write_lines(raw / rawformat.INTERACTIONS_FILE, [interaction(1, "1", 4)])  # no longer the generator's
    before = _contents(raw)
    with pytest.raises(RawDataError) as err:
        ensure_data(tmp_path, scale="tiny", seed=0)
    message = str(err.value)
    assert message.startswith(f"{raw}: {MARKER_FILE} records synthetic data of --scale micro --seed 1, but not every "
                              f"raw file there is the generator's: {inter} (its sha256 is not the one ")
    assert "use another --data folder, move the file(s) away, or ask for --scale micro --seed 1" in message
    assert _contents(raw) == before
    assert not (tmp_path / "processed").exists()


def test_a_marker_json_python_cannot_hold_is_a_clear_error(tmp_path):
    for text in ("[" * 100_000, '{"seed": ' + "9" * 5000 + "}"):
        (tmp_path / MARKER_FILE).write_text(text)
        with pytest.raises(RawDataError, match=re.escape(f"{tmp_path / MARKER_FILE}: not valid JSON")):
            read_marker(tmp_path)


def test_a_file_put_there_while_generating_is_not_overwritten(tmp_path, monkeypatch):
    import pipeline.data.generate as gen

    raw = tmp_path / "raw"
    write_books = gen._write_books

    def books_then_someone_copies_real_reviews_in(path, *args):
        tally = write_books(path, *args)
        write_lines(raw / rawformat.REVIEWS_FILE, [review(1, "1")])
        return tally

    monkeypatch.setattr(gen, "_write_books", books_then_someone_copies_real_reviews_in)
    with pytest.raises(RawDataError, match=re.escape(f"{raw / rawformat.REVIEWS_FILE} (there is no {MARKER_FILE}")):
        generate(raw, MICRO, seed=1)
    assert [p.name for p in raw.iterdir()] == [rawformat.REVIEWS_FILE], "no temp file, no other file, no marker"
    assert (raw / rawformat.REVIEWS_FILE).read_bytes() == gzip_bytes([review(1, "1")])
