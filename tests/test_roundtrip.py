"""End to end on generated data: generate -> prepare -> the tables agree with the manifest and with an
independent per-line recomputation of the seed's processing; ensure-data generates, reuses and keeps real files."""

from __future__ import annotations

import gzip
import json
from collections import Counter

import numpy as np
import pandas as pd
import pytest

from pipeline.data import rawformat
from pipeline.data.calibration import compare_to_seed, positive_share_ok
from pipeline.data.dataset import load_prepared
from pipeline.data.ensure import ensure_data
from pipeline.data.files import MARKER_FILE
from pipeline.data.generate import generate


def _records(path):
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f]


@pytest.fixture(scope="module")
def tiny(tiny_data):
    """The session's tiny dataset: its raw folder, the manifest prepare wrote, the prepared data."""
    data = load_prepared(tiny_data / "processed")
    return tiny_data / "raw", data.manifest, data


def test_tables_agree_with_the_manifest(tiny):
    _, manifest, data = tiny
    counts = manifest["counts"]
    assert manifest["source"] == "synthetic" and manifest["generator"]["scale"] == "tiny"
    assert len(data.books) == counts["books_kept"]
    assert len(data.users) == counts["users_kept"]
    assert {s: len(df) for s, df in data.splits.items()} == counts["labelled_rows"]
    assert int(data.users.book_idxs.map(len).sum()) == counts["user_book_pairs"]
    assert "rating" not in data.splits["train"].columns
    rated = np.concatenate([data.splits[s].rating.to_numpy() for s in ("dev", "val", "test")])
    assert set(np.unique(rated)) <= {0, 1}


def test_prepare_matches_a_per_line_recomputation(tiny):
    raw, manifest, data = tiny
    books = _records(raw / rawformat.BOOKS_FILE)
    kept = {b["book_id"] for b in books if 100 <= int(b["ratings_count"]) <= 15_000}
    inter = [r for r in _records(raw / rawformat.INTERACTIONS_FILE) if r["book_id"] in kept]
    per_user = Counter(r["user_id"] for r in inter)
    users = {u for u, n in per_user.items() if 25 <= n <= 200}
    labelled = [r for r in inter if r["user_id"] in users and r["rating"] != 0]
    reviews = {(r["user_id"], r["book_id"]) for r in _records(raw / rawformat.REVIEWS_FILE)}

    assert manifest["counts"]["interactions_read"] == len(_records(raw / rawformat.INTERACTIONS_FILE))
    assert set(data.books.book_id) == kept
    assert set(data.users.user_id) == users
    assert sum(manifest["counts"]["labelled_rows"].values()) == len(labelled)
    assert manifest["counts"]["reviews_joined"] == sum((r["user_id"], r["book_id"]) in reviews for r in labelled)
    want_pos = sum(r["rating"] >= 4 for r in labelled) / len(labelled)
    assert manifest["counts"]["positive_share"] == pytest.approx(want_pos, abs=1e-6)


def test_ensure_data_generates_then_reuses(tmp_path):
    first = ensure_data(tmp_path, scale="tiny", seed=1)
    assert first["source"] == "synthetic" and not first["reused"]
    assert ensure_data(tmp_path, scale="tiny", seed=1)["reused"]
    other = ensure_data(tmp_path, scale="tiny", seed=2)
    assert not other["reused"] and other["generator"]["seed"] == 2


def test_ensure_data_never_overwrites_real_files(tmp_path):
    raw = tmp_path / "raw"
    generate(raw, "tiny", seed=1)
    (raw / MARKER_FILE).unlink()  # now these are "real" files as far as the project can tell
    before = {n: (raw / n).read_bytes() for n in rawformat.RAW_FILES}
    manifest = ensure_data(tmp_path, scale="small", seed=5)
    assert manifest["source"] == "real"
    assert {n: (raw / n).read_bytes() for n in rawformat.RAW_FILES} == before


@pytest.mark.slow
def test_calibration_on_small(small_prepared, small_seed_votes):
    """The tutorial's LFs (tests/seed_lfs.py) on generated `small` data reproduce the seed's dev table
    (looser than the seed-scale acceptance, which bench/data_pipeline.py checks: fewer rows, more noise)."""
    from snorkel.labeling import LFAnalysis

    from tests.seed_lfs import GOLD_SPLITS, make_seed_lfs

    data = load_prepared(small_prepared)
    rows = pd.concat([data.splits[s] for s in GOLD_SPLITS], ignore_index=True)
    lfs = make_seed_lfs(data.books)
    # snorkel's PandasLFApplier(lfs) on these rows (with each user's book_idxs), run once per session
    L = np.concatenate([small_seed_votes[s] for s in GOLD_SPLITS])
    table = compare_to_seed(LFAnalysis(L, lfs).lf_summary(rows.rating.to_numpy()),
                            coverage_rel_tol=0.5, accuracy_abs_tol=0.08)
    assert table.ok.all(), "\n" + table.to_string()
    assert positive_share_ok(float(rows.rating.mean()))
