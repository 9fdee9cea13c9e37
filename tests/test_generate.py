"""The synthetic generator writes the real raw format, reproducibly, with the structure the LFs rely on."""

from __future__ import annotations

import gzip
import json
import random
from datetime import datetime

import numpy as np
import pytest

from pipeline.data import rawformat
from pipeline.data.generate import MARKER_FILE, generate, get_scale
from pipeline.data.generate.reviews import compose_review, star_phrase

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
    for name in (*rawformat.RAW_FILES, MARKER_FILE):
        assert (tmp_path / "again" / name).read_bytes() == (out / name).read_bytes(), name
    assert (tmp_path / "other" / rawformat.INTERACTIONS_FILE).read_bytes() != \
        (out / rawformat.INTERACTIONS_FILE).read_bytes()


def test_marker_records_scale_seed_and_file_hashes(tiny_raw):
    out, _ = tiny_raw
    marker = json.loads((out / MARKER_FILE).read_text())
    assert marker["scale"] == "tiny" and marker["seed"] == 7
    assert set(marker["files"]) == set(rawformat.RAW_FILES)


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
