"""`python -m pipeline features / label / analyze` on generated tiny data, and their clear errors."""

from __future__ import annotations

import shutil

import pandas as pd
import pytest

from lfs.config import load_default
from pipeline.cli import main


@pytest.fixture(scope="module")
def tiny(tiny_processed, tmp_path_factory):
    """A copy of the session's tiny prepared data (the features command caches its features in it)."""
    return shutil.copytree(tiny_processed, tmp_path_factory.mktemp("tiny") / "processed")


def test_features_then_label_writes_one_column_per_lf(tiny, tmp_path, capsys):
    assert main(["features", "--processed", str(tiny), "--processes", "1"]) == 0
    assert "features ready" in capsys.readouterr().out
    out = tmp_path / "L.parquet"
    assert main(["label", "--processed", str(tiny), "--split", "train", "--out", str(out)]) == 0
    frame = pd.read_parquet(out)
    names = [s.name for s in load_default().enabled()]
    assert list(frame.columns) == ["user_idx", "book_idx", *names]
    assert set(frame[names].stack().unique()) <= {-1, 0, 1}


def test_analyze_prints_the_summary_and_totals(tiny, capsys):
    assert main(["analyze", "--processed", str(tiny), "--split", "dev"]) == 0
    out = capsys.readouterr().out
    assert "stars_in_review" in out and "Emp. Acc." in out and "majority vote" in out


def test_a_bad_config_is_one_clear_error(tiny, tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text('schema_version = 1\n\n[[lf]]\nname = "p"\ntemplate = "threshold"\nfeature = "polarty"\n'
                   'op = ">"\nvalue = 0.3\nlabel = 1\n')
    assert main(["analyze", "--processed", str(tiny), "--config", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "LF 'p'" in err and "polarty" in err and "Traceback" not in err
