"""The app frame: every page loads on tiny data; the sidebar names the data and the LF config version."""

import pytest

from workbench import nav


@pytest.mark.parametrize("path", [path for path, *_ in nav.PAGES])
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
    at.switch_page("pages/overview.py").run()
    assert not at.exception
    assert any("No prepared data" in e.value for e in at.error)
