"""The workbench in a real browser on tiny data: every page opens from its own URL on a fresh server, a threshold
edit changes the figures, a figure opens its rows on the Examples page, and a hostile review shows as text."""

from __future__ import annotations

import dataclasses
import re
from urllib.parse import urlsplit

import pytest

from tests.browser import streamlit_server
from tests.runs_fixtures import copy_folder
from tests.session_data import log_tail
from tests.workbench_fixtures import HOSTILE_REVIEW
from workbench import nav

pytest_plugins = ("tests.browser",)

LF = "polarity_positive"
FRAME_TIMEOUT_MS = 30_000  # the frame of a page on tiny data; a page run without the entry script never gets it
HOSTILE_LF = "stars_in_review"  # its keyword "5 stars" is in HOSTILE_REVIEW, and it fires on few dev rows


def number(pattern: str, text: str) -> float:
    found = re.search(pattern, text)
    assert found, f"{pattern!r} not in {text!r}"
    return float(found.group(1).replace(",", ""))


def coverage(text: str) -> float:
    """The percentage of 'Coverage 12.34%'."""
    return number(r"Coverage\s+([\d.]+)\s*%", text)


def incorrect(text: str) -> int:
    return int(number(r"Incorrect\s+([\d,]+)", text))


def dev_figures(data, lf: str, **changes) -> tuple[float, int]:
    """(coverage in %, incorrect rows) of `lf` on dev from the LF engine, with `changes` to its spec."""
    from lfs.analysis import lf_summary
    from lfs.store import ConfigStore
    from lfs.workspace import open_split
    from pipeline.data.dataset import load_prepared

    store = ConfigStore.open(str(data / "lf_configs"))
    cfg = store.load(store.latest())
    cfg = cfg.replace(lf, dataclasses.replace(cfg.get(lf), **changes))
    specs = cfg.enabled()
    dev = open_split(load_prepared(data / "processed"), "dev")
    summary = lf_summary(dev.matrix(specs), specs, dev.gold).loc[lf]
    return 100 * float(summary["Coverage"]), int(summary["Incorrect"])


FRESH_SERVER_TESTS = {"test_each_page_url_opens_the_page_in_the_frame_on_a_fresh_server"}


@pytest.fixture(scope="module")
def shared_server(workbench_template, tmp_path_factory):
    """(base URL, data folder) of one server for the tests that only read its data: an LF edit stays in the
    test's own browser session (pytest-playwright gives each test a new browser context) until it is saved, and
    these tests save nothing."""
    folder = tmp_path_factory.mktemp("shared-server")
    data = copy_folder(workbench_template, folder / "data")
    with streamlit_server(data, folder / "streamlit.log") as url:
        yield url, data


@pytest.fixture
def workbench_data(request, workbench_template, tmp_path):
    """A private copy of the template data for a test on a fresh server; the shared server's data otherwise."""
    if request.node.originalname in FRESH_SERVER_TESTS:
        return copy_folder(workbench_template, tmp_path / "data")
    return request.getfixturevalue("shared_server")[1]


@pytest.fixture
def workbench_server(request, workbench_data, tmp_path):
    """A server of this test's own (FRESH_SERVER_TESTS), or the module's shared one."""
    if request.node.originalname not in FRESH_SERVER_TESTS:
        yield request.getfixturevalue("shared_server")[0]
        return
    log = tmp_path / "streamlit.log"
    with streamlit_server(workbench_data, log) as url:
        yield url
    print(f"streamlit log (tail):\n{log_tail(log)}")  # shown with a failing test's report


def await_sidebar(app, *, unsaved: bool) -> None:
    """Wait until the sidebar shows (or no longer shows) the working copy's "unsaved changes" mark."""
    app.page.wait_for_function(
        "(want) => document.querySelector(\"[data-testid='stSidebar']\")"
        ".innerText.includes('unsaved changes') === want", arg=unsaved)


def open_lf_page(app) -> None:
    """The front page, then Labeling functions from the menu, as a user gets there."""
    app.open()
    app.navigate("Labeling functions", "labeling_functions", f"stats-{LF}")


# Every page's own URL (the default page's is /), as a bookmark or a refresh after a restart opens it: the fresh
# server's first request. The page scripts live in workbench/pages/ and the entry script in workbench/entry/; were
# pages/ beside the entry script, Streamlit would take it for an old-style multipage app and run a page's script
# without the entry script's frame.
PAGE_LINKS = [("" if i == 0 else url, title) for i, (_, title, _, url) in enumerate(nav.PAGES)]


@pytest.mark.parametrize(("url_path", "title"), PAGE_LINKS, ids=[url or "root" for url, _ in PAGE_LINKS])
def test_each_page_url_opens_the_page_in_the_frame_on_a_fresh_server(workbench, url_path, title):
    workbench.open(url_path, timeout=FRAME_TIMEOUT_MS)
    assert "LF config · v1 of 1" in workbench.page.get_by_test_id("stSidebar").inner_text()
    assert workbench.page.get_by_role("heading", name=title, exact=True).count() == 1
    assert urlsplit(workbench.page.url).path.strip("/") == url_path
    assert not workbench.problems()


def test_threshold_edit_changes_coverage(workbench, workbench_data):
    open_lf_page(workbench)
    before = coverage(workbench.text(f"stats-{LF}"))
    assert abs(before - dev_figures(workbench_data, LF)[0]) < 0.006

    field = workbench.key(f"ed-1-{LF}-value").locator("input")
    field.fill("0.6")
    after = coverage(workbench.change_text(f"stats-{LF}", lambda: field.press("Enter")))

    assert after < before  # a higher threshold on "polarity > t" labels fewer rows
    assert abs(after - dev_figures(workbench_data, LF, value=0.6)[0]) < 0.006
    # The editors rerun as a fragment, without the app's frame: the sidebar still follows the edit ...
    await_sidebar(workbench, unsaved=True)
    # ... a second edit (no change to the frame) leaves it as it is ...
    field.fill("0.5")
    workbench.change_text(f"stats-{LF}", lambda: field.press("Enter"))
    await_sidebar(workbench, unsaved=True)
    # ... and back at the saved value the mark goes.
    field.fill("0.3")
    assert abs(coverage(workbench.change_text(f"stats-{LF}", lambda: field.press("Enter"))) - before) < 0.006
    await_sidebar(workbench, unsaved=False)
    assert not workbench.problems()


def test_incorrect_figure_opens_its_rows_in_examples(workbench, workbench_data):
    open_lf_page(workbench)
    shown = incorrect(workbench.text(f"stats-{LF}"))
    assert shown == dev_figures(workbench_data, LF)[1] > 0

    workbench.pill(f"inspect-{LF}", "incorrect")
    workbench.await_page("examples", "ex-count")

    assert LF in workbench.text("ex-lf") and "incorrect" in workbench.text("ex-kind")
    assert number(r"([\d,]+) rows? match", workbench.text("ex-count")) == shown
    assert workbench.key("example-0").count() == 1
    assert not workbench.problems()


def test_hostile_review_renders_as_text(workbench):
    open_lf_page(workbench)
    workbench.pill(f"inspect-{HOSTILE_LF}", "fires")
    workbench.await_page("examples", "ex-count")

    review = workbench.page.locator("div.review", has_text="perfect book.")  # the hostile review's plain words
    assert review.count() == 1, "the hostile review is not among the rows its keyword LF fires on"
    text = " ".join(review.inner_text().split())
    assert HOSTILE_REVIEW in text, f"markup not shown verbatim: {text!r}"
    assert review.locator("mark").count() >= 1  # the keyword match is highlighted around escaped text
    assert workbench.page.locator("img[src='x']").count() == 0
    assert workbench.page.evaluate("() => [...document.scripts].every(s => !s.text.includes(\"alert('xss')\"))")
    assert not workbench.problems()
