"""A process pool started from inside the app must not run the app again in its workers.

Streamlit (and AppTest) run workbench/entry/app.py as the __main__ module; a multiprocessing worker started with
"spawn" (the TextBlob pool, when the app computes features) imports that script again as __mp_main__. Had it drawn a
page there, it would fail outside Streamlit, and the pool would replace the dead worker forever.
"""

import runpy

from tests.workbench_fixtures import APP


def test_a_spawned_worker_importing_the_app_draws_nothing():
    namespace = runpy.run_path(APP, run_name="__mp_main__")  # what "spawn" does in each worker
    assert callable(namespace["main"])
