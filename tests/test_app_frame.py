"""The app frame: every page loads on tiny data; the sidebar names the data and the LF config version."""

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
