"""The Labeling functions page in AppTest on the tiny workbench data: live figures that follow every edit, inline
errors for invalid values, adding and deleting LFs, save / restore / diff, a stale save refused as a conflict, and
figures that open their rows on the Examples page.

Figures are checked against the LF engine (lfs.analysis) run on the same data outside Streamlit.
"""

from __future__ import annotations

import dataclasses
import re

import pytest
from streamlit.proto.Block_pb2 import Block as BlockProto
from streamlit.runtime.state.common import user_key_from_element_id

from lfs.analysis import lf_summary
from lfs.config import LFConfig
from lfs.example_rows import ExampleFilter
from lfs.store import ConfigStore
from lfs.workspace import open_split
from pipeline.data.dataset import load_prepared
from workbench import nav, state
from workbench.render import markdown_literal

LF = "polarity_positive"
KW_LF = "stars_in_review"


@pytest.fixture(autouse=True)
def _pills_in_apptest(monkeypatch):
    """AppTest (streamlit 1.50) cannot send the state of a single-select pills widget with nothing selected: it
    iterates the value, None. The browser sends no index then; so does this."""
    from streamlit.testing.v1.element_tree import ButtonGroup

    def indices(self):
        value = self.value
        value = [] if value is None else value if isinstance(value, list) else [value]
        return [self.options.index(self.format_func(v)) for v in value]

    monkeypatch.setattr(ButtonGroup, "indices", property(indices))


def open_page(at):
    at.run()
    at.switch_page(nav.LABELING_FUNCTIONS).run()
    assert not at.exception, at.exception
    assert [t.value for t in at.title] == ["Labeling functions"]
    return at


def block(at, key: str):
    found = [node for node in at.main if isinstance(getattr(node, "proto", None), BlockProto)
             and node.proto.HasField("id") and user_key_from_element_id(node.proto.id) == key]
    return found[0] if found else None


def stats_text(at, lf: str) -> str:
    container = block(at, f"stats-{lf}")
    assert container is not None, f"no stats-{lf} container"
    return " ".join(m.value for m in container.markdown)


def coverage(text: str) -> float:
    return float(re.search(r"Coverage ([\d.]+)%", text).group(1))


def incorrect(text: str) -> int:
    return int(re.search(r"Incorrect (\d+)", text).group(1))


def handed_filter(at) -> ExampleFilter:
    """The filter handed to the Examples page: in session state until that page reads it, then in its URL."""
    if state.EX_FILTER in at.session_state:
        return at.session_state[state.EX_FILTER]
    from lfs.example_rows import from_query_params

    return from_query_params(at.query_params)


def store_of(data) -> ConfigStore:
    return ConfigStore.open(data / "lf_configs")


def engine_figures(data, cfg: LFConfig, lf: str) -> tuple[float, int]:
    """(coverage in %, incorrect) of `lf` among the enabled LFs of `cfg` on dev, from the LF engine."""
    dev = open_split(load_prepared(data / "processed"), "dev")
    specs = cfg.enabled()
    row = lf_summary(dev.matrix(specs), specs, dev.gold).loc[lf]
    return round(100 * float(row["Coverage"]), 2), int(row["Incorrect"])


def working(at) -> LFConfig:
    return at.session_state[state.WORKING]


def table_lfs(at) -> list[str]:
    return at.dataframe[0].value["LF"].tolist()


def errors(at) -> str:
    """The errors as shown: user text in them is markdown-escaped (render.markdown_literal)."""
    return re.sub(r"\\(.)", r"\1", " ".join(e.value for e in at.error))


def sidebar(at) -> str:
    return " ".join(m.value for m in at.sidebar.markdown)


def key(lf: str, field: str, gen: int = 1) -> str:
    return f"ed-{gen}-{lf}-{field}"


def test_page_shows_the_engines_figures_for_every_enabled_lf(apptest, workbench_data):
    at = open_page(apptest)
    cfg = store_of(workbench_data).load(1)
    assert table_lfs(at) == list(cfg.names)
    for spec in cfg.enabled():
        text = stats_text(at, spec.name)
        assert (coverage(text), incorrect(text)) == engine_figures(workbench_data, cfg, spec.name)
        assert "as in v1" in text
    pills = [option.content for option in at.button_group(key=f"inspect-{LF}").options]
    assert pills[2] == f"incorrect {incorrect(stats_text(at, LF))}"
    assert [p.split()[0] for p in pills] == ["fires", "correct", "incorrect", "conflicts"]
    assert len(at.get("arrow_vega_lite_chart")) == 3  # coverage vs accuracy, the selected LF's figures, heatmaps
    assert not at.error


def test_threshold_edit_changes_the_coverage_shown(apptest, workbench_data):
    at = open_page(apptest)
    before = stats_text(at, LF)
    at.number_input(key=key(LF, "value")).set_value(0.9).run()
    assert not at.exception, at.exception
    after = stats_text(at, LF)
    expected = working(at)
    assert expected.get(LF).value == 0.9
    assert (coverage(after), incorrect(after)) == engine_figures(workbench_data, expected, LF)
    assert coverage(after) < coverage(before) and "vs v1: coverage -" in after
    assert at.slider(key=key(LF, "slider")).value == 0.9  # the slider follows the number input
    assert "unsaved changes" in sidebar(at)

    at.slider(key=key(LF, "slider")).set_value(0.1).run()  # and the other way round
    assert at.number_input(key=key(LF, "value")).value == 0.1 and working(at).get(LF).value == 0.1
    assert coverage(stats_text(at, LF)) == engine_figures(workbench_data, working(at), LF)[0]


def test_other_threshold_fields_and_switches(apptest, workbench_data):
    at = open_page(apptest)
    at.selectbox(key=key(LF, "op")).set_value("<").run()
    at.selectbox(key=key(LF, "label")).set_value(0).run()
    spec = working(at).get(LF)
    assert (spec.op, spec.label) == ("<", 0)
    assert coverage(stats_text(at, LF)) == engine_figures(workbench_data, working(at), LF)[0]

    at.toggle(key=key(LF, "enabled")).set_value(False).run()
    assert not working(at).get(LF).enabled
    assert block(at, f"stats-{LF}") is None and LF not in table_lfs(at)
    at.button(key=key(LF, "delete")).click().run()
    assert LF not in working(at).names and not at.exception
    assert not [w for w in at.main if (getattr(w, "key", None) or "").startswith(key(LF, ""))]  # its editor too


def test_keyword_rules_edit_add_and_remove(apptest, workbench_data):
    at = open_page(apptest)
    rule1 = at.text_area(key=key(KW_LF, "rule1-keywords"))
    assert rule1.value.splitlines()[:2] == ["one star", "1 star"]
    rule1.set_value("one star\n  1 star \n\nONE STAR\nawful").run()  # trimmed, blank and repeated lines dropped
    assert working(at).get(KW_LF).rules[0].keywords == ("one star", "1 star", "awful")
    assert at.text_area(key=key(KW_LF, "rule1-keywords")).value == "one star\n1 star\nawful"

    at.selectbox(key=key(KW_LF, "match")).set_value("word").run()
    assert working(at).get(KW_LF).match == "word"

    at.button(key=key(KW_LF, "add-rule")).click().run()
    assert len(working(at).get(KW_LF).rules) == 2  # the new rule is pending until it has a keyword
    at.text_area(key=key(KW_LF, "rule3-keywords")).set_value("meh").run()
    at.selectbox(key=key(KW_LF, "rule3-label")).set_value(0).run()
    rules = working(at).get(KW_LF).rules
    assert len(rules) == 3 and rules[2].keywords == ("meh",) and rules[2].label == 0

    at.button(key=key(KW_LF, "rule1-remove")).click().run()
    rules = working(at).get(KW_LF).rules
    assert [r.keywords[0] for r in rules] == ["5 stars", "meh"]
    assert at.text_area(key=key(KW_LF, "rule1-keywords")).value.startswith("5 stars")
    assert not at.exception and not at.error
    assert coverage(stats_text(at, KW_LF)) == engine_figures(workbench_data, working(at), KW_LF)[0]


def test_an_invalid_value_shows_an_inline_error_and_keeps_the_last_valid_one(apptest):
    at = open_page(apptest)
    before = working(at)
    at.text_area(key=key(KW_LF, "rule1-keywords")).set_value("  \n").run()
    assert not at.exception
    message = errors(at)
    assert KW_LF in message and "rules" in message and "at least one keyword" in message
    assert working(at) == before  # nothing applied
    at.text_area(key=key(KW_LF, "rule1-keywords")).set_value("one star").run()
    assert not at.error and working(at).get(KW_LF).rules[0].keywords == ("one star",)


def test_adding_a_keyword_lf_adds_a_row_and_an_editor(apptest, workbench_data):
    at = open_page(apptest)
    at.text_input(key="add-name").set_value("loved_it")
    at.text_area(key="add-keywords").set_value("loved it\nfavorite")
    at.selectbox(key="add-kw-label").set_value(1)
    at.button(key="add-submit").click().run()
    assert not at.exception and not at.error
    assert table_lfs(at)[-1] == "loved_it"
    assert at.text_area(key=key("loved_it", "rule1-keywords")).value == "loved it\nfavorite"
    assert coverage(stats_text(at, "loved_it")) == engine_figures(workbench_data, working(at), "loved_it")[0]
    assert at.text_input(key="add-name").value == ""  # the form is ready for the next one


def test_adding_a_threshold_lf(apptest):
    at = open_page(apptest)
    at.selectbox(key="add-template").set_value("threshold").run()
    at.text_input(key="add-name").set_value("long_review")
    at.selectbox(key="add-feature").set_value("review_length")
    at.selectbox(key="add-op").set_value(">=")
    at.number_input(key="add-value").set_value(100.0)
    at.button(key="add-submit").click().run()
    assert not at.exception and not at.error
    spec = working(at).get("long_review")
    assert (spec.feature, spec.op, spec.value, spec.label) == ("review_length", ">=", 100.0, 1)
    assert at.number_input(key=key("long_review", "value")).value == 100.0


@pytest.mark.parametrize(("name", "keywords", "expected"), [
    (LF, "great", "duplicate name"),
    ("no good", "great", "may hold only letters"),
    ("", "great", "must not be empty"),
    ("fine_name", "\n \n", "at least one keyword"),
])
def test_an_invalid_new_lf_is_not_added(apptest, name, keywords, expected):
    at = open_page(apptest)
    before = working(at)
    at.text_input(key="add-name").set_value(name)
    at.text_area(key="add-keywords").set_value(keywords)
    at.button(key="add-submit").click().run()
    assert not at.exception
    assert expected in errors(at) and working(at) == before


def test_save_and_restore_round_trip(apptest, workbench_data):
    at = open_page(apptest)
    v1 = store_of(workbench_data).load(1)
    at.number_input(key=key(LF, "value")).set_value(0.6).run()
    at.text_input(key="save-note").set_value("stricter positive polarity")
    at.button(key="save").click().run()
    assert not at.exception and not at.error
    store = store_of(workbench_data)
    assert store.latest() == 2 and store.info(2).note == "stricter positive polarity"
    assert store.load(2) == working(at) and store.load(2).get(LF).value == 0.6
    assert "v2 of 2" in sidebar(at) and "unsaved" not in sidebar(at)
    assert "as in v2" in stats_text(at, LF)
    assert any("Saved as version 2" in s.value for s in at.success)

    at.selectbox(key="restore-version").set_value(1)
    at.button(key="restore").click().run()
    assert not at.exception
    store = store_of(workbench_data)
    assert store.latest() == 3 and store.info(3).restored_from == 1
    assert working(at) == v1  # the working copy is version 1's config again
    assert at.number_input(key=key(LF, "value", gen=2)).value == 0.3  # the editors start over from it
    assert "v3 of 3" in sidebar(at)

    at.selectbox(key="diff-a").set_value(1)
    at.selectbox(key="diff-b").set_value(2).run()
    diff = at.code[0].value
    assert "-value = 0.3" in diff and "+value = 0.6" in diff


def test_a_stale_save_shows_the_conflict_and_overwrites_nothing(apptest, workbench_data):
    at = open_page(apptest)
    at.number_input(key=key(LF, "value")).set_value(0.6).run()
    other = store_of(workbench_data)  # another session saves first
    other.save(other.load(1).remove("polarity_negative"), base_version=1, note="someone else")

    at.button(key="save").click().run()
    assert not at.exception
    message = errors(at)
    assert "conflict" in message and "version 2" in message and "version 1" in message
    assert "removed `polarity_negative`" in message
    store = store_of(workbench_data)
    assert store.latest() == 2 and store.load(2) == other.load(2)
    assert working(at).get(LF).value == 0.6  # the edits are kept

    at.button(key="conflict-keep").click().run()
    assert not at.error and working(at).get(LF).value == 0.6
    at.button(key="save").click().run()
    assert "conflict" in errors(at)  # still stale
    at.button(key="conflict-reload").click().run()
    assert not at.error and working(at) == store.load(2) and "v2 of 2" in sidebar(at)


def test_keeping_the_edits_on_top_of_the_newer_version(apptest, workbench_data):
    at = open_page(apptest)
    at.number_input(key=key(LF, "value")).set_value(0.6).run()
    other = store_of(workbench_data)
    other.save(other.load(1).remove("polarity_negative"), base_version=1, note="someone else")
    at.button(key="save").click().run()
    at.button(key="conflict-rebase").click().run()
    assert not at.error and "unsaved" in sidebar(at)
    at.button(key="save").click().run()
    store = store_of(workbench_data)
    assert store.latest() == 3 and store.info(3).parent == 2 and store.load(3).get(LF).value == 0.6


@pytest.mark.parametrize(("pills", "option", "expected"), [
    (f"inspect-{LF}", "incorrect", ExampleFilter(split="dev", lf=LF, kind="incorrect")),
    (f"inspect-{KW_LF}", "fires", ExampleFilter(split="dev", lf=KW_LF, kind="fires")),
    ("inspect-totals", "uncovered", ExampleFilter(split="dev", uncovered=True)),
    ("inspect-totals", "conflicts", ExampleFilter(split="dev", conflicts=True)),
])
def test_a_figure_opens_its_rows_on_the_examples_page(apptest, pills, option, expected):
    at = open_page(apptest)
    at.button_group(key=pills).set_value([option]).run()
    assert not at.exception, at.exception
    assert not [t for t in at.title if t.value == "Labeling functions"]
    assert handed_filter(at) == expected


def test_the_charts_follow_the_selected_lf(apptest):
    at = open_page(apptest)
    assert at.selectbox(key="chart-lf").value == KW_LF  # the first enabled LF
    at.selectbox(key="chart-lf").set_value(LF).run()
    assert at.session_state[state.SELECTED_LF] == LF
    assert at.selectbox(key="chart-lf").value == LF and "inspect-keyword" not in {b.key for b in at.button}
    at.selectbox(key="chart-lf").set_value(KW_LF).run()
    at.selectbox(key="inspect-keyword-choice").set_value("5 stars")
    at.button(key="inspect-keyword").click().run()
    assert handed_filter(at) == ExampleFilter(split="dev", lf=KW_LF, keyword="5 stars")


def test_an_edit_selects_the_edited_lf_for_the_charts(apptest):
    at = open_page(apptest)
    at.number_input(key=key("subjectivity_positive", "value")).set_value(0.5).run()
    assert at.selectbox(key="chart-lf").value == "subjectivity_positive"


def test_user_text_is_shown_as_typed(apptest, workbench_data):
    note = "**bold** [link](javascript:alert(1)) <b>tag</b>"
    store = store_of(workbench_data)
    cfg = store.load(1)
    store.save(cfg.replace(LF, dataclasses.replace(cfg.get(LF), note=note)), base_version=1, note="a note")
    at = open_page(apptest)
    assert markdown_literal(note) in [c.value for c in at.caption]
    at.text_input(key="add-name").set_value("[x](y)").run()
    at.button(key="add-submit").click().run()
    assert "[x](y)" in errors(at) and "\\[x\\]\\(y\\)" in " ".join(e.value for e in at.error)
