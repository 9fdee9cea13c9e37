"""The app frame: every page loads on tiny data; the sidebar names the data and the LF config version."""

import re
from pathlib import Path

import pytest

from tests.workbench_fixtures import APP
from workbench import nav


def test_no_pages_folder_beside_the_entry_script():
    """Streamlit takes a pages/ folder beside the entry script for an old-style multipage app: on a fresh server
    it would run a page's script alone, without the entry script's frame (see the browser test of every page's
    URL). So the entry script has a folder of its own, and the page scripts live in workbench/pages/."""
    entry = Path(__file__).resolve().parents[1] / APP
    workbench_dir = Path(nav.__file__).resolve().parent
    assert entry.is_file() and entry.parent == workbench_dir / "entry"
    assert not (entry.parent / "pages").exists()
    assert sorted(p.name for p in entry.parent.glob("*.py")) == ["app.py"]
    assert nav.PAGES_DIR == workbench_dir / "pages"
    assert all(path.is_absolute() and path.parent == nav.PAGES_DIR and path.is_file() for path, *_ in nav.PAGES)


@pytest.mark.parametrize("path", [path for path, *_ in nav.PAGES], ids=[path.stem for path, *_ in nav.PAGES])
def test_every_page_loads_without_exception(apptest, path):
    at = apptest.run()
    at.switch_page(path).run()
    assert not at.exception, at.exception


def test_sidebar_names_data_and_config_version(apptest):
    at = apptest.run()
    sidebar = " ".join(m.value for m in at.sidebar.markdown)
    assert "synthetic, tiny scale" in sidebar
    assert "v1 of 1" in sidebar and "unsaved" not in sidebar


def test_missing_data_shows_setup_hint(apptest, workbench_data):
    import shutil

    shutil.rmtree(workbench_data / "processed")
    at = apptest.run()
    at.switch_page(nav.OVERVIEW).run()
    assert not at.exception
    assert any("No prepared data" in e.value for e in at.error)


# --- a foreign session sees the refusal only (the browser test drives the real headers: test_browser_security) ---


def request_of(host: str, origin: str):
    """What workbench.guard.request returns for a websocket with these Host and Origin headers, from loopback."""
    from streamlit.runtime.context import StreamlitHeaders

    return lambda: (StreamlitHeaders([("Host", host), ("Origin", origin), ("Upgrade", "websocket")]), None)


def test_a_foreign_host_sees_the_refusal_and_nothing_else(apptest, monkeypatch):
    from workbench import guard

    monkeypatch.setattr(guard, "request", request_of("evil.example:8501", "http://evil.example:8501"))
    at = apptest.run()
    assert not at.exception, at.exception
    assert [e.value.startswith(guard.REFUSED) for e in at.error] == [True]
    assert "evil\\.example" in at.error[0].value  # the name asked for, Markdown-escaped
    assert len(at.sidebar.children) == 0 and not at.markdown and not at.title and not at.caption


def test_the_own_address_gets_the_workbench(apptest, monkeypatch):
    from streamlit import config

    from workbench import guard

    port = config.get_option("server.port")
    monkeypatch.setattr(guard, "request", request_of(f"127.0.0.1:{port}", f"http://127.0.0.1:{port}"))
    at = apptest.run()
    assert not at.exception and not at.error
    assert "v1 of 1" in " ".join(m.value for m in at.sidebar.markdown)


# --- query parameters a link can carry: a bad value is a message, never a traceback ---


@pytest.mark.parametrize("value", ["99999999999999999999", "9223372036854775808", "abc", "-1", "0", "1e5", " 7",
                                   "1_0", "٣", "<b>1</b>"])
def test_a_malformed_or_unknown_run_in_the_link_warns_and_the_train_page_works(apptest, value):
    apptest.query_params["run"] = value
    at = apptest.run()
    at.switch_page(nav.TRAIN).run()
    assert not at.exception, at.exception
    shown = [re.sub(r"\\(.)", r"\1", w.value) for w in at.warning]  # Markdown-escaped
    assert any(w.startswith(f"There is no run {value[:20]!r} in this data folder") for w in shown), shown
    assert [t.value for t in at.title] == ["Train"] and at.button(key="retrain") is not None


@pytest.mark.parametrize("params", [
    {"split": "../../etc/passwd"}, {"split": "dev", "gold": "1e5"}, {"split": "train", "gold": "1"},
    {"split": "dev", "lf": "<script>", "kind": "fires"}, {"split": "dev", "lf": "polarity_positive", "kind": "9" * 30},
    {"split": "dev", "lf": "stars_in_review", "keyword": "x" * 5000}, {"split": "dev", "conflicts": "maybe"},
    {"split": "dev", "has_review": ""}, {"keyword": "5 stars"},
], ids=lambda p: "&".join(f"{k}={v[:12]}" for k, v in p.items()))
def test_a_malformed_examples_link_shows_the_page(apptest, params):
    apptest.query_params.update(params)
    at = apptest.run()
    at.switch_page(nav.EXAMPLES).run()
    assert not at.exception, at.exception
    assert [t.value for t in at.title] == ["Examples"]
