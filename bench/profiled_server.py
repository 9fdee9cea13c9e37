"""`streamlit` with a sampling profiler of the threads that run page scripts (used by `bench.load --profile`).

    python -m bench.profiled_server PROFILE.json run workbench/entry/app.py [streamlit options] [-- app args]

Every SAMPLE_SECONDS the stacks of Streamlit's script threads are read (`sys._current_frames`, so the scripts
run unchanged and at nearly full speed); PROFILE.json is rewritten every WRITE_SECONDS with, per function, the
samples in which it was on the stack (cumulative) and on top (self), plus the number of samples, so a reader
can diff two snapshots to profile one phase. Functions are named `path:function` with the path relative to
the repository, site-packages or the standard library.
"""

from __future__ import annotations

import json
import os
import sys
import sysconfig
import threading
import time
from collections import Counter
from pathlib import Path

SAMPLE_SECONDS = 0.005
WRITE_SECONDS = 0.5
SCRIPT_THREAD = "ScriptRunner.scriptThread"
ROOT = str(Path(__file__).resolve().parents[1]) + os.sep
STDLIB = sysconfig.get_paths()["stdlib"] + os.sep


def _name(code) -> str:
    path = code.co_filename
    if "site-packages" + os.sep in path:
        path = path.split("site-packages" + os.sep, 1)[1]
    elif path.startswith(ROOT):
        path = path[len(ROOT):]
    elif path.startswith(STDLIB):
        path = path[len(STDLIB):]
    return f"{path}:{code.co_name}"


def _sample(out: Path) -> None:
    cumulative: Counter[str] = Counter()
    own: Counter[str] = Counter()
    samples = 0
    last_write = time.monotonic()
    while True:
        time.sleep(SAMPLE_SECONDS)
        names = {t.ident: t.name for t in threading.enumerate()}
        for ident, frame in sys._current_frames().items():
            if names.get(ident) != SCRIPT_THREAD:
                continue
            samples += 1
            own[_name(frame.f_code)] += 1
            seen = set()
            while frame is not None:
                seen.add(_name(frame.f_code))
                frame = frame.f_back
            cumulative.update(seen)
        now = time.monotonic()
        if now - last_write >= WRITE_SECONDS:
            last_write = now
            tmp = out.with_suffix(".tmp")
            tmp.write_text(json.dumps({"time": time.time(), "samples": samples, "interval": SAMPLE_SECONDS,
                                       "cumulative": cumulative, "self": own}))
            os.replace(tmp, out)


def main() -> None:
    out = Path(sys.argv[1])
    threading.Thread(target=_sample, args=(out,), daemon=True, name="bench-profiler").start()
    sys.argv = ["streamlit", *sys.argv[2:]]
    from streamlit.web.cli import main as streamlit_main

    streamlit_main(prog_name="streamlit")


if __name__ == "__main__":
    main()
