"""Warm the server's shared caches while it starts, so the first page a user opens finds the work done.

At seed scale a fresh server spends about 4 s on the first page: importing the analysis stack (snorkel, torch,
scikit-learn, altair), loading the prepared data and opening the dev split with its features. The launcher
(`python -m workbench`) starts this on a thread beside the server; it fills the same process-wide
`st.cache_resource` entries the pages ask for (workbench.context), so a page that asks first simply waits for
the entry. Anything that goes wrong is left for the page to show: this thread only logs it.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

log = logging.getLogger(__name__)


def start(data: str | None) -> threading.Thread:
    """Warm the caches of the data folder `data` (the app's --data, else $LF_WORKBENCH_DATA, else "data") on a
    daemon thread."""
    thread = threading.Thread(target=warm, args=(data,), name="workbench-warm-up", daemon=True)
    thread.start()
    return thread


def warm(data: str | None) -> None:
    try:
        import altair  # noqa: F401
        import snorkel.labeling  # noqa: F401

        from pipeline.data.prepare import MANIFEST_FILE
        from workbench import context

        # the same arguments the pages pass (context.processed_dir), so that they hit these entries
        processed = str(Path(data or os.environ.get(context.DATA_ENV) or "data") / "processed")
        fingerprint = context._read_fingerprint(Path(processed) / MANIFEST_FILE)
        context._prepared(processed, fingerprint)
        context._split(processed, fingerprint, "dev")
    except Exception as e:  # no data yet, a damaged manifest ...: the page says what to do
        log.info("warm-up skipped: %s", e)
