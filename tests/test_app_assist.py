"""The LF page's suggestions, autotune and impact in AppTest on the tiny workbench data, each checked against the
engine (lfs.suggest, lfs.impact) or the CLI run on the same data outside Streamlit."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

from lfs.analysis import totals
from lfs.config import load_default
from lfs.suggest import MIN_LIFT, open_context, suggest
from lfs.workspace import open_split
from pipeline.cli import main
from pipeline.data.dataset import load_prepared
from pipeline.training.impact import label_model_impact
from pipeline.training.labelmodel import LabelModelParams
from tests.test_app_labeling_functions import (
    _pills_in_apptest,  # noqa: F401 (autouse fixture)
    coverage,
    engine_figures,
    incorrect,
    key,
    open_page,
    stats_text,
    table_lfs,
    working,
)
from workbench import state

LF = "polarity_positive"


def with_assist(at, min_lift: float = 0.0):
    at = open_page(at)
    at.toggle(key=state.ASSIST_SHOW).set_value(True).run()
    at.slider(key=state.ASSIST_MIN_LIFT).set_value(min_lift).run()
    assert not at.exception, at.exception
    return at


def table_with(at, column: str):
    found = [d.value for d in at.dataframe if column in d.value.columns]
    assert len(found) == 1, f"{len(found)} tables with a column {column!r}"
    return found[0]


def engine_suggestions(data, specs, min_lift: float = 0.0):
    prepared = load_prepared(data / "processed")
    return suggest(open_context(prepared, specs, min_lift=min_lift), top=10)


def test_suggestions_are_the_engines_and_one_click_adds_one(apptest, workbench_data):
    at = with_assist(apptest)
    shown = at.session_state[state.SUGGESTIONS]
    specs = load_default().enabled()
    assert shown and [s.spec for s in shown] == [s.spec for s in engine_suggestions(workbench_data, specs)]
    first = shown[0]
    at.button(key="suggestion-add-0").click().run()
    assert not at.exception, at.exception
    cfg = working(at)
    assert cfg.get(first.spec.name).key == first.spec.key
    assert first.spec.name in table_lfs(at)
    text = stats_text(at, first.spec.name)
    assert (coverage(text), incorrect(text)) == engine_figures(workbench_data, cfg, first.spec.name)
    assert "not in v1" in text
    assert first.spec.key not in {s.spec.key for s in at.session_state[state.SUGGESTIONS]}  # it is in use now


def test_a_keyword_suggestion_goes_into_a_rule_of_the_same_label(apptest, workbench_data):
    at = with_assist(apptest)
    shown = at.session_state[state.SUGGESTIONS]
    keywords = [(i, s) for i, s in enumerate(shown) if s.template == "keyword" and s.spec.field == "review_text"]
    if not keywords:
        pytest.skip("no review keyword among the tiny data's suggestions")
    i, s = keywords[0]
    rule = 0 if s.label == 0 else 1  # stars_in_review: rule 1 votes negative, rule 2 positive
    at.selectbox(key=state.ASSIST_TARGET).set_value(f"stars_in_review:{rule}").run()
    at.button(key=f"suggestion-add-{i}").click().run()
    spec = working(at).get("stars_in_review")
    assert spec.rules[rule].keywords[-1] == s.spec.keywords[0]
    assert at.text_area(key=key("stars_in_review", f"rule{rule + 1}-keywords")).value.splitlines()[-1] \
        == s.spec.keywords[0]
    wrong = 1 - rule
    at.selectbox(key=state.ASSIST_TARGET).set_value(f"stars_in_review:{wrong}").run()
    before = working(at).get("stars_in_review")
    at.button(key=f"suggestion-add-{i}").click().run()
    assert working(at).get("stars_in_review") == before  # refused: the rule votes the other label
    assert "add it as a new LF instead" in " ".join(e.value for e in at.error)


def test_autotune_sets_the_value_the_cli_prints(apptest, workbench_data, capsys):
    at = open_page(apptest)
    at.button(key=key(LF, "autotune")).click().run()
    assert not at.exception, at.exception
    value = working(at).get(LF).value
    assert main(["autotune", "--processed", str(workbench_data / "processed"), "--lf", LF, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["value"] == value
    assert at.number_input(key=key(LF, "value")).value == value
    assert at.session_state[state.AUTOTUNED][LF] == value
    assert any(f"Autotuned `{LF}` to {value:g}" in s.value for s in at.success)


def test_impact_equals_a_recomputation_without_each_lf(apptest, workbench_data):
    at = with_assist(apptest, MIN_LIFT)
    frame = table_with(at, "MV coverage without")
    specs = load_default().enabled()
    dev = open_split(load_prepared(workbench_data / "processed"), "dev")
    L = dev.matrix(specs)
    assert frame["LF"].tolist() == [s.name for s in specs]
    for j, row in frame.iterrows():
        without = totals(np.delete(L, j, axis=1), dev.gold)
        assert row["MV coverage without"] == pytest.approx(without["mv_coverage"])
        assert row["MV accuracy without"] == pytest.approx(without["mv_accuracy"], nan_ok=True)


def test_label_model_impact_runs_in_the_background(apptest, workbench_data):
    at = with_assist(apptest, MIN_LIFT)
    at.button(key="lm-impact").click().run()
    task = at.session_state[state.LM_IMPACT]
    for _ in range(600):  # the fits run on a thread; the page polls it
        if not task.running:
            break
        time.sleep(0.5)
    at.run()
    assert task.error is None and task.result is not None
    prepared = load_prepared(workbench_data / "processed")
    specs = load_default().enabled()
    dev, train = open_split(prepared, "dev"), open_split(prepared, "train")
    expected = label_model_impact(train.matrix(specs), dev.matrix(specs), dev.gold, [s.name for s in specs],
                                  LabelModelParams())
    assert task.result.equals(expected)
    shown = table_with(at, "accuracy without")
    assert shown["LF"].tolist() == expected["lf"].tolist()
    assert shown["accuracy without"].tolist() == pytest.approx(expected["accuracy_without"].tolist(), nan_ok=True)
