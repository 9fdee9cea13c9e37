"""A process pool started from inside the app must not run the app again in its workers.

Streamlit (and AppTest) run workbench/entry/app.py as the __main__ module; a multiprocessing worker started with
"spawn" (the TextBlob pool, when the app computes features) imports that script again as __mp_main__. Had it drawn a
page there, it would fail outside Streamlit, and the pool would replace the dead worker forever.

The script is run here with runpy, as Streamlit and a spawned worker run it, with Streamlit's page calls replaced by
recorders that stop the script at its first drawing call: as __main__ it draws, as __mp_main__ it draws nothing.
"""

from __future__ import annotations

import runpy
from pathlib import Path

from tests.workbench_fixtures import APP

DRAWING_CALLS = ("set_page_config", "navigation", "Page")  # what main() calls on `streamlit` before any page


class Drew(Exception):
    """Raised by a recorded Streamlit call: the script started drawing a page."""


def run_script(path: str | Path, run_name: str, monkeypatch) -> tuple[dict, list[str]]:
    """Run the script at `path` as module `run_name`; (its namespace, the drawing calls it made)."""
    import streamlit as st

    calls: list[str] = []

    def recorder(name):
        def call(*args, **kwargs):
            calls.append(name)
            raise Drew(name)

        return call

    for name in DRAWING_CALLS:
        monkeypatch.setattr(st, name, recorder(name))
    try:
        namespace = runpy.run_path(str(path), run_name=run_name)
    except Drew:
        namespace = {}
    return namespace, calls


def test_a_spawned_worker_importing_the_app_draws_nothing(monkeypatch):
    namespace, calls = run_script(APP, "__mp_main__", monkeypatch)  # what "spawn" does in each worker
    assert calls == []
    assert callable(namespace["main"])  # the script ran to its end and defined main, without calling it


def test_run_as_main_the_app_draws_its_page(monkeypatch):
    """The other side of the guard: as Streamlit runs it, the script calls main(), which draws at once."""
    namespace, calls = run_script(APP, "__main__", monkeypatch)
    assert calls == ["set_page_config"] and namespace == {}


def test_the_check_fails_for_a_script_without_the_guard(monkeypatch, tmp_path):
    """The same script calling main() unguarded draws as __mp_main__ too: the first test would fail on it."""
    source = Path(APP).read_text(encoding="utf-8")
    guard = 'if __name__ == "__main__":\n    main()'
    assert guard in source, "the entry script's guard changed: update this test's copy without it"
    unguarded = tmp_path / "app.py"
    unguarded.write_text(source.replace(guard, "main()"), encoding="utf-8")
    namespace, calls = run_script(unguarded, "__mp_main__", monkeypatch)
    assert calls == ["set_page_config"] and namespace == {}
