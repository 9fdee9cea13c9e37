"""Load test of the workbench at seed scale: concurrent sessions editing LFs while a retrain runs.

Serves `streamlit run workbench/entry/app.py` on 127.0.0.1 (a free port, started and stopped here) over a scratch
copy of the data folder (raw/ and the prepared files symlinked, the retrain's caches, the LF configs and the run
registry copied, so nothing is written into --data's registry), and drives it with light clients that speak
Streamlit's own websocket protocol (protobuf BackMsg / ForwardMsg on /_stcore/stream, as the browser does): 8
Chromium pages would take the 2 cores the server is measured on.

  baseline  one session, no retrain: the page opened, then --baseline-edits threshold edits, one per --interval
  load      --sessions sessions open the Labeling functions page while one retrain job runs (started as the Train
            page starts it: `pipeline.runs.jobs.start`, on the scratch registry); each then edits every --interval
            seconds for --seconds: polarity_positive's threshold, alternating above and below the default and
            never the same value twice in the run (so every edit changes the figures and no edit is answered from
            another session's cache). A session sends its next edit only once the last one's figures are in.

Edit -> figures: from sending the rerun request with the new widget value until the script run ends
(ForwardMsg script_finished) with the LF's figures (the `stats-polarity_positive` line) showing a new coverage.
Errors: exception elements, error alerts, disconnections, timeouts, runs without new figures, and tracebacks in
the server log. Memory: RSS of the server process and its children, and of the retrain job, sampled every 0.5 s.
"Where the time goes" splits the edits' wall time by the gaps between the deltas the client received: the gap
before an element is roughly what the page script computed before drawing it (plus, under load, waiting for the
GIL and the cores).

With --profile the server runs under bench.profiled_server, which samples the script threads' stacks, and the
report adds the functions they spent their time in, per phase.

Usage: python -m bench.load [--data data/bench] [--sessions 8] [--seconds 120] [--interval 2] [--profile]
Targets (load): 0 errors, p95 edit -> figures <= 1 s, peak server memory <= 4 GB.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import re
import shutil
import sqlite3
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import psutil
from streamlit.proto.Alert_pb2 import Alert
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from tornado.httpclient import HTTPRequest
from tornado.websocket import websocket_connect

from bench.ui_latency import ensure_bench_data
from tests.browser import APP, free_port, serving, streamlit_server

PAGE = "labeling_functions"  # the page's URL path
LF = "polarity_positive"
VALUE_KEY = f"ed-1-{LF}-value"  # the threshold's number input (editor generation 1 in a fresh session)
STATS_KEY = f"stats-{LF}"  # the container of the LF's live figures
SIDES = ((0.40, 0.10), (0.20, 0.10))  # (low end, width) above and below the default 0.3: each edit crosses it
COVERAGE = re.compile(r"Coverage ([0-9.]+%)")
TARGET_P95_S = 1.0
TARGET_MEMORY_GB = 4.0
SAMPLE_SECONDS = 0.5
GB = 1024**3


class SessionError(Exception):
    """A session cannot go on: `kind` is "disconnected", "timeout" or "page error"."""

    def __init__(self, kind: str, detail: str):
        super().__init__(f"{kind}: {detail}")
        self.kind = kind


@dataclass
class Run:
    """One script run as the client saw it."""

    sent: float
    first: float | None = None  # the first message of the run
    finished: float | None = None  # script_finished (successfully)
    coverage: str | None = None  # the LF's coverage in its figures line
    value: float | None = None  # the threshold's number input as drawn
    exceptions: list[str] = field(default_factory=list)
    alerts: list[str] = field(default_factory=list)  # st.error boxes
    nbytes: int = 0
    marks: list[tuple[float, tuple]] = field(default_factory=list)  # (arrival, (path, what)) of every delta

    @property
    def seconds(self) -> float:
        return self.finished - self.sent

    @property
    def queued(self) -> float:
        """Seconds from the request until the server sent the run's first message."""
        return (self.first or self.finished) - self.sent


def _user_key(element_id: str) -> str:
    """The user key in a Streamlit element id ("$$ID-<hash>-<key>"), or the id when it has none."""
    parts = element_id.split("-", 2)
    return parts[2] if len(parts) == 3 and parts[0] == "$$ID" else element_id


class Session:
    """One browser session on the Labeling functions page, over Streamlit's websocket protocol."""

    def __init__(self, port: int):
        self.port = port
        self.conn = None
        self.page_hash = ""
        self.value_id: str | None = None
        self.fragment_id = ""  # the fragment the threshold input is drawn in ("" when none)
        self.stats_path: tuple | None = None
        self.labels: dict[tuple, str] = {}  # what each delta path showed, for the time split

    async def open(self, timeout: float) -> Run:
        """Connect and load the page (as a browser's first request for /labeling_functions)."""
        origin = f"http://127.0.0.1:{self.port}"  # the Host header is 127.0.0.1:PORT, from the URL
        request = HTTPRequest(f"ws://127.0.0.1:{self.port}/_stcore/stream", headers={"Origin": origin},
                              connect_timeout=timeout, request_timeout=timeout)
        try:
            self.conn = await asyncio.wait_for(
                websocket_connect(request, subprotocols=["streamlit"], max_message_size=256 * 1024**2), timeout)
        except (TimeoutError, OSError) as e:
            raise SessionError("disconnected", f"could not connect: {e!r}") from None
        back = BackMsg()
        back.rerun_script.query_string = ""
        back.rerun_script.page_name = PAGE
        self._context(back)
        run = await self._run(back, timeout)
        if self.value_id is None or run.coverage is None:
            raise SessionError("page error", f"no threshold input {VALUE_KEY!r} or no figures {STATS_KEY!r}")
        return run

    async def edit(self, value: float, timeout: float) -> Run:
        """Set the threshold's number input to `value`, as the browser does when Enter commits it."""
        back = BackMsg()
        back.rerun_script.query_string = ""
        back.rerun_script.page_script_hash = self.page_hash
        back.rerun_script.fragment_id = self.fragment_id  # as the browser: an edit in a fragment reruns only it
        widget = back.rerun_script.widget_states.widgets.add()
        widget.id = self.value_id
        widget.double_value = value
        self._context(back)
        return await self._run(back, timeout)

    def _context(self, back: BackMsg) -> None:
        info = back.rerun_script.context_info
        info.timezone, info.timezone_offset, info.locale = "UTC", 0, "en-US"
        info.url = f"http://127.0.0.1:{self.port}/{PAGE}"

    async def _run(self, back: BackMsg, timeout: float) -> Run:
        run = Run(sent=time.perf_counter())
        try:
            await self.conn.write_message(back.SerializeToString(), binary=True)
        except Exception as e:  # noqa: BLE001 (tornado raises WebSocketClosedError, or StreamClosedError)
            raise SessionError("disconnected", f"send failed: {e!r}") from None
        deadline = run.sent + timeout
        while run.finished is None:
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                raise SessionError("timeout", f"no script_finished after {timeout:g} s")
            try:
                raw = await asyncio.wait_for(self.conn.read_message(), remaining)
            except TimeoutError:
                raise SessionError("timeout", f"no script_finished after {timeout:g} s") from None
            if raw is None:
                raise SessionError("disconnected", f"the server closed the connection ({self.conn.close_code})")
            now = time.perf_counter()
            run.nbytes += len(raw)
            msg = ForwardMsg()
            msg.ParseFromString(raw)
            self._take(msg, run, now)
        return run

    def _take(self, msg: ForwardMsg, run: Run, now: float) -> None:
        kind = msg.WhichOneof("type")
        if kind in ("new_session", "delta", "navigation", "page_info_changed") and run.first is None:
            run.first = now
        if kind == "navigation":
            self.page_hash = msg.navigation.page_script_hash
        elif kind == "delta":
            self._delta(msg, run, now)
        elif kind == "script_finished":
            status = ForwardMsg.ScriptFinishedStatus.Name(msg.script_finished)
            if status in ("FINISHED_SUCCESSFULLY", "FINISHED_FRAGMENT_RUN_SUCCESSFULLY"):
                run.finished = now
            elif status != "FINISHED_EARLY_FOR_RERUN":
                run.exceptions.append(f"script finished {status}")
                run.finished = now
        elif kind == "page_not_found":
            run.exceptions.append("page not found")
        elif kind == "session_event" and msg.session_event.WhichOneof("type") == "script_compilation_exception":
            run.exceptions.append(f"compilation: {msg.session_event.script_compilation_exception.message}")
        elif kind == "ref_hash":
            run.exceptions.append("a cached message reference the client cannot resolve")

    def _delta(self, msg: ForwardMsg, run: Run, now: float) -> None:
        path = tuple(msg.metadata.delta_path)
        delta = msg.delta
        what = delta.WhichOneof("type")
        if what == "add_block":
            key = _user_key(delta.add_block.id) if delta.add_block.id else ""
            label = f"block {key}" if key else f"block at {path}"
            if key == STATS_KEY:
                self.stats_path = path
        elif what == "new_element":
            element = delta.new_element
            etype = element.WhichOneof("type")
            inner = getattr(element, etype) if etype else None
            label = f"{etype or 'element'} at {path}"
            if inner is not None and getattr(inner, "id", ""):
                label = f"{etype} {_user_key(inner.id)}"
            if etype == "number_input" and element.number_input.id.endswith(f"-{VALUE_KEY}"):
                self.value_id = element.number_input.id
                self.fragment_id = delta.fragment_id
                run.value = element.number_input.value if element.number_input.set_value else None
            elif etype == "markdown":
                body = element.markdown.body
                label = f"markdown {body[:40]!r}"
                if self.stats_path is not None and path[:-1] == self.stats_path:
                    found = COVERAGE.search(body)
                    run.coverage = found.group(1) if found else None
                    label = f"markdown {STATS_KEY}"
            elif etype == "metric":
                label = f"metric {element.metric.label}"
            elif etype == "code":
                label = f"code ({element.code.language or 'text'}) at {path}"
            elif etype == "exception":
                run.exceptions.append(f"{element.exception.type}: {element.exception.message}"[:300])
            elif etype == "alert" and element.alert.format == Alert.Format.ERROR:
                run.alerts.append(element.alert.body[:300])
        else:
            label = what or "delta"
        self.labels[(path, what)] = label  # the latest run's, so the edits' layout
        run.marks.append((now, (path, what)))

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


class Values:
    """Threshold values: alternately above and below the default, never one used before in this run."""

    def __init__(self) -> None:
        self._counters = [itertools.count(), itertools.count()]

    def next(self, side: int) -> float:
        low, width = SIDES[side]
        n = next(self._counters[side])
        return round(low + (n * 0.0005) % width, 4)


@dataclass
class Phase:
    """What the sessions of one phase saw."""

    name: str
    edits: list[Run] = field(default_factory=list)
    loads: list[float] = field(default_factory=list)
    errors: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    labels: dict[tuple, str] = field(default_factory=dict)

    def error(self, kind: str, detail: str) -> None:
        self.errors[kind].append(detail)

    @property
    def error_count(self) -> int:
        return sum(len(v) for v in self.errors.values())


async def drive(port: int, phase: Phase, values: Values, *, start: float, stop: float, interval: float,
                timeout: float, offset: float, max_edits: int | None = None) -> None:
    """One session: open the page, then edit every `interval` s from `start + offset` until `stop` (or
    `max_edits`); the next edit goes out once the previous one's figures are in."""
    session = Session(port)
    try:
        t0 = time.perf_counter()
        await asyncio.sleep(max(0.0, start - t0))
        opened = await session.open(timeout)
        _check(phase, opened, "page load")
        phase.loads.append(opened.seconds)
        before = opened.coverage
        due = max(time.perf_counter(), start) + offset
        side = made = 0
        while due < stop and (max_edits is None or made < max_edits):
            made += 1
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            value = values.next(side)
            run = await session.edit(value, timeout)
            if _check(phase, run, f"edit to {value}"):
                if run.coverage is None or run.coverage == before:
                    phase.error("figures not updated", f"edit to {value}: coverage {before} -> {run.coverage}")
                elif run.value is not None and abs(run.value - value) > 1e-9:
                    phase.error("figures not updated", f"edit to {value}: the threshold drawn is {run.value}")
                else:
                    phase.edits.append(run)
            before = run.coverage
            side = 1 - side
            due = max(due + interval, time.perf_counter())
    except SessionError as e:
        phase.error(e.kind, str(e))
    finally:
        phase.labels.update(session.labels)
        session.close()


def _check(phase: Phase, run: Run, what: str) -> bool:
    for text in run.exceptions:
        phase.error("exceptions in the page", f"{what}: {text}")
    for text in run.alerts:
        phase.error("error alerts", f"{what}: {text}")
    return not run.exceptions and not run.alerts


# -- the data folder and the processes ---------------------------------------------------------------------------
def scratch_data(src: Path, dst: Path) -> None:
    """A data folder at `dst` that reads `src`'s data and writes nothing into it: raw/ and the prepared files
    symlinked; the caches a retrain may write (contenders/, replica/), the LF configs and the run registry copied
    (earlier runs' folders symlinked, for the comparison with the previous run). Runs still active in the copy
    are ended there, so the scratch registry accepts a new one."""
    dst.mkdir(parents=True)
    if (src / "raw").is_dir():
        (dst / "raw").symlink_to((src / "raw").resolve(), target_is_directory=True)
    processed = dst / "processed"
    processed.mkdir()
    for entry in (src / "processed").iterdir():
        if entry.name in ("contenders", "replica") and entry.is_dir():
            shutil.copytree(entry, processed / entry.name)
        else:
            (processed / entry.name).symlink_to(entry.resolve(), target_is_directory=entry.is_dir())
    if (src / "lf_configs").is_dir():
        shutil.copytree(src / "lf_configs", dst / "lf_configs")
    runs = dst / "runs"
    runs.mkdir()
    registry = src / "runs" / "registry.sqlite"
    if registry.is_file():
        source = sqlite3.connect(registry.resolve().as_uri() + "?mode=ro", uri=True)  # read only
        with contextlib.closing(source), contextlib.closing(sqlite3.connect(runs / registry.name)) as copy:
            source.backup(copy)
        for entry in (src / "runs").iterdir():
            if entry.is_dir():
                (runs / entry.name).symlink_to(entry.resolve(), target_is_directory=True)
        from pipeline.runs.registry import InvalidTransition, Registry

        reg = Registry.for_data(dst)
        for run in reg.list():
            if not run.is_finished:
                with contextlib.suppress(InvalidTransition):
                    reg.finish(run.id, "failed", "active in the data folder bench/load.py copied")


def start_retrain(data: Path) -> int:
    """Start a retrain job of the latest saved LF config with default parameters, as the Train page does."""
    from lfs.config import dumps_config
    from lfs.store import ConfigStore
    from pipeline.runs import jobs
    from pipeline.runs.settings import build_params

    store = ConfigStore.open(data / "lf_configs")
    cfg = store.load(store.latest())
    manifest = json.loads((data / "processed" / "manifest.json").read_text(encoding="utf-8"))
    return jobs.start(data, dataset_fingerprint=manifest["fingerprint"], lf_config_toml=dumps_config(cfg),
                      lf_config_hash=cfg.key, params=build_params(label_model={}, end_model={}).to_dict(),
                      note="bench/load.py")


def server_process(port: int) -> psutil.Process:
    """The server child of this process serving on `port`."""
    for child in psutil.Process().children():
        with contextlib.suppress(psutil.Error):
            cmdline = child.cmdline()
            if "--server.port" in cmdline and str(port) in cmdline:
                return child
    raise RuntimeError(f"no streamlit child process on port {port}")


def _tree_sum(proc: psutil.Process | None, measure: Callable[[psutil.Process], float]) -> float:
    """`measure` summed over a process and its live descendants (0 once gone)."""
    if proc is None:
        return 0
    total = 0
    with contextlib.suppress(psutil.Error):
        for p in [proc, *proc.children(recursive=True)]:
            with contextlib.suppress(psutil.Error):
                total += measure(p)
    return total


def tree_rss(proc: psutil.Process | None) -> int:
    """RSS of a process and its descendants (0 once gone)."""
    return int(_tree_sum(proc, lambda p: p.memory_info().rss))


def tree_cpu(proc: psutil.Process | None) -> float:
    """CPU seconds (user + system) of a process and its live descendants."""
    return float(_tree_sum(proc, lambda p: sum(p.cpu_times()[:2])))


def busy_cpu() -> float:
    """CPU seconds all cores of the machine have been busy since boot."""
    t = psutil.cpu_times()
    return sum(t) - t.idle - getattr(t, "iowait", 0.0)


def own_cpu() -> float:
    """CPU seconds of this process (the clients; not its children, the server and the job)."""
    t = psutil.Process().cpu_times()
    return t.user + t.system


class Sampler(threading.Thread):
    """Peak RSS of the server tree, of the retrain job's tree and of both together, every SAMPLE_SECONDS; the
    retrain's stages as its registry shows them."""

    def __init__(self, server: psutil.Process, data: Path):
        super().__init__(daemon=True, name="rss-sampler")
        self.server, self.data = server, data
        self.job: psutil.Process | None = None
        self.run_id: int | None = None
        self.peaks = defaultdict(int)  # phase -> peak server RSS
        self.job_peak = self.both_peak = 0
        self.job_cpu = 0.0  # the job tree's CPU seconds when last seen
        self.phase = "start-up"
        self.stages: list[tuple[float, str]] = []  # (time, stage) of the retrain
        self._halt = threading.Event()

    def run(self) -> None:
        registry = None
        while not self._halt.wait(SAMPLE_SECONDS):
            server, job = tree_rss(self.server), tree_rss(self.job)
            if self.job is not None and job:
                self.job_cpu = max(self.job_cpu, tree_cpu(self.job))
            self.peaks[self.phase] = max(self.peaks[self.phase], server)
            self.job_peak, self.both_peak = max(self.job_peak, job), max(self.both_peak, server + job)
            if self.run_id is not None:
                from pipeline.runs.registry import Registry

                registry = registry or Registry.for_data(self.data)
                with contextlib.suppress(Exception):  # a locked registry: read it next time
                    run = registry.get(self.run_id)
                    stage = run.status if run.is_finished else (run.stage or run.status)
                    if not self.stages or self.stages[-1][1] != stage:
                        self.stages.append((time.perf_counter(), stage))

    def stop(self) -> None:
        self._halt.set()
        self.join(5)


def watchdog(seconds: float, pids: list[int], scratch: Path) -> threading.Timer:
    """After `seconds`, end the server and the retrain job (by pid) and exit: the hard bound of the run."""

    def fire() -> None:
        print(f"\nhard timeout: {seconds:.0f} s passed; stopping the server and the retrain job", file=sys.stderr,
              flush=True)
        for pid in pids:
            with contextlib.suppress(psutil.Error):
                proc = psutil.Process(pid)
                for p in [*proc.children(recursive=True), proc]:
                    with contextlib.suppress(psutil.Error):
                        p.kill()
        shutil.rmtree(scratch, ignore_errors=True)
        os._exit(3)

    timer = threading.Timer(seconds, fire)
    timer.daemon = True
    timer.start()
    return timer


@contextlib.contextmanager
def serve(data: Path, log: Path, port: int, profile: Path | None):
    """The workbench on `data` at 127.0.0.1:`port` (tests.browser.streamlit_server), or with `profile`, the same
    server under bench.profiled_server, which samples its script threads into that file."""
    if profile is None:
        with streamlit_server(data, log, port=port, timeout=120) as url:
            yield url
        return
    cmd = [sys.executable, "-m", "bench.profiled_server", str(profile), "run", APP, "--server.headless", "true",
           "--server.address", "127.0.0.1", "--server.port", str(port), "--browser.gatherUsageStats", "false",
           "--server.fileWatcherType", "none", "--", "--data", str(data)]
    url = f"http://127.0.0.1:{port}"
    with serving(cmd, url, log, timeout=120):
        yield url


def profile_snapshot(path: Path | None, after: float) -> dict | None:
    """The profiler's counts as written after time.time() `after` (None without --profile)."""
    if path is None:
        return None
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError, ValueError):
            snap = json.loads(path.read_text(encoding="utf-8"))
            if snap["time"] > after:
                return snap
        time.sleep(0.1)
    return None


PROJECT = ("workbench/", "lfs/", "pipeline/")


def profile_report(before: dict | None, after: dict | None, top: int = 14) -> str:
    """Where the script threads spent their time between two snapshots, as shares of their samples: the
    project's functions by cumulative share (on the stack), then every function by self share (on top).
    Frames on nearly every sample (the entry script, the script runner) are left out."""
    if not before or not after:
        return "    (no profile)"
    n = after["samples"] - before["samples"]
    if n <= 0:
        return "    (no samples)"
    cum = {k: v - before["cumulative"].get(k, 0) for k, v in after["cumulative"].items()}
    own = {k: v - before["self"].get(k, 0) for k, v in after["self"].items()}
    ours = sorted(((k, v) for k, v in cum.items() if k.startswith(PROJECT) and v < 0.9 * n), key=lambda kv: -kv[1])
    lines = [f"    {n} samples of script threads; project code by cumulative share (self share beside):"]
    lines += [f"    {100 * v / n:5.1f}% {100 * own.get(k, 0) / n:5.1f}%  {k}" for k, v in ours[:top]]
    lines.append("    any code by self share:")
    hot = sorted(own.items(), key=lambda kv: -kv[1])[:top // 2]
    lines += [f"    {100 * v / n:5.1f}%         {k}" for k, v in hot]
    return "\n".join(lines)


# -- phases ------------------------------------------------------------------------------------------------------
async def run_phase(port: int, phase: Phase, values: Values, *, sessions: int, seconds: float, interval: float,
                    timeout: float, max_edits: int | None = None) -> float:
    """`sessions` sessions at once, each opening the page then editing for `seconds`; the phase's wall time."""
    t0 = time.perf_counter()
    start = t0 + 0.05
    stop = start + seconds
    tasks = [drive(port, phase, values, start=start + i * 0.1, stop=stop, interval=interval, timeout=timeout,
                   offset=i * interval / sessions, max_edits=max_edits) for i in range(sessions)]
    await asyncio.gather(*tasks)
    return time.perf_counter() - t0


def percentiles(values: list[float]) -> tuple[float, float]:
    if not values:
        return float("nan"), float("nan")
    return float(np.percentile(values, 50)), float(np.percentile(values, 95))


def time_split(runs: list[Run], labels: dict[tuple, str], top: int) -> list[tuple[str, float]]:
    """The biggest shares of an edit's wall time: per delta, the mean gap per edit before it arrived (the request's own
    wait before its first delta counts for that delta; the rest, after the last delta, as "script_finished")."""
    gaps: dict[str, list[float]] = defaultdict(list)
    for run in runs:
        previous = run.sent
        for when, key in run.marks:
            gaps[labels.get(key, str(key))].append(when - previous)
            previous = when
        gaps["script_finished (after the last element)"].append(run.finished - previous)
    n = len(runs)
    total = {label: sum(values) / n for label, values in gaps.items()}  # mean seconds per edit
    return sorted(total.items(), key=lambda kv: -kv[1])[:top]


def fmt_split(split: list[tuple[str, float]], wall: float) -> str:
    return "\n".join(f"    {seconds * 1000:7.0f} ms  {100 * seconds / wall:4.0f}%  before {label}"
                     for label, seconds in split)


def main() -> None:  # noqa: PLR0915 (a benchmark's script: set up, two phases, report)
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=Path("data/bench"), help="data folder (seed scale)")
    ap.add_argument("--sessions", type=int, default=8, help="concurrent sessions under load")
    ap.add_argument("--seconds", type=float, default=120.0, help="seconds each session keeps editing")
    ap.add_argument("--interval", type=float, default=2.0, help="seconds between a session's edits")
    ap.add_argument("--baseline-edits", type=int, default=15, help="edits of the one-session baseline")
    ap.add_argument("--edit-timeout", type=float, default=60.0, help="seconds one edit (or page load) may take")
    ap.add_argument("--no-retrain", action="store_true", help="load without the retrain job (for comparison)")
    ap.add_argument("--profile", action="store_true",
                    help="sample the server's script threads and print where their time goes in each phase")
    ap.add_argument("--timeout", type=float, default=None,
                    help="hard bound on the whole run in seconds (default: --seconds plus 10 minutes)")
    args = ap.parse_args()
    if args.sessions < 1 or args.seconds <= 0 or args.interval <= 0 or args.baseline_edits < 1:
        ap.error("--sessions, --seconds, --interval and --baseline-edits must be positive")
    data = args.data.resolve()
    hard = args.timeout or args.seconds + 600
    ensure_bench_data(data)

    scratch = Path(tempfile.mkdtemp(prefix="lf-load-"))
    log = data / "load.streamlit.log"
    pids: list[int] = []
    timer = watchdog(hard, pids, scratch)
    run_id = None
    try:
        scratch_data(data, scratch / "data")
        port = free_port()
        t0 = time.perf_counter()
        profile = scratch / "profile.json" if args.profile else None
        with serve(scratch / "data", log, port, profile) as url:
            up_s = time.perf_counter() - t0
            server = server_process(port)
            pids.append(server.pid)
            sampler = Sampler(server, scratch / "data")
            sampler.start()
            values = Values()

            sampler.phase = "warm-up"
            warm = Phase("warm-up")
            asyncio.run(run_phase(port, warm, values, sessions=1, seconds=3600, interval=0.0,
                                  timeout=max(args.edit_timeout, 180), max_edits=2))

            sampler.phase = "baseline"
            base = Phase("baseline")
            snaps = [profile_snapshot(profile, time.time())]
            cpu0, busy0, own0 = tree_cpu(server), busy_cpu(), own_cpu()
            base_wall = asyncio.run(run_phase(port, base, values, sessions=1, seconds=3600, interval=args.interval,
                                              timeout=args.edit_timeout, max_edits=args.baseline_edits))
            base_cpu = tree_cpu(server) - cpu0
            base_others = (busy_cpu() - busy0 - base_cpu - (own_cpu() - own0)) / base_wall
            snaps.append(profile_snapshot(profile, time.time()))

            sampler.phase = "load"
            load = Phase("load")
            retrain_t0 = time.perf_counter()
            if not args.no_retrain:
                run_id = start_retrain(scratch / "data")
                from pipeline.runs.registry import Registry

                registry = Registry.for_data(scratch / "data")
                job = psutil.Process(registry.get(run_id).pid)
                pids.append(job.pid)
                sampler.job, sampler.run_id = job, run_id
            client_cpu0, cpu0, busy0 = own_cpu(), tree_cpu(server), busy_cpu()
            load_wall = asyncio.run(run_phase(port, load, values, sessions=args.sessions, seconds=args.seconds,
                                              interval=args.interval, timeout=args.edit_timeout))
            load_cpu, client_cpu = tree_cpu(server) - cpu0, own_cpu() - client_cpu0
            sampler_job_cpu = sampler.job_cpu
            load_others = (busy_cpu() - busy0 - load_cpu - client_cpu - sampler_job_cpu) / load_wall
            load_end = time.perf_counter()
            snaps.append(profile_snapshot(profile, time.time()))
            retrain_end = None
            if run_id is not None:
                run = registry.get(run_id)
                if run.is_finished:
                    retrain_end = next((t for t, s in sampler.stages if s == run.status), load_end)
                else:
                    from pipeline.runs import jobs

                    jobs.cancel(registry, run_id, wait=60)
                with contextlib.suppress(psutil.Error):
                    job.wait(30)
                run = registry.get(run_id)
                job_log = registry.runs_dir(run_id) / "job.log"
                if job_log.is_file():
                    shutil.copyfile(job_log, data / "load.retrain.log")
            sampler.stop()
        server_errors = [line for line in log.read_text(encoding="utf-8", errors="replace").splitlines()
                         if "Traceback" in line or " ERROR " in line or line.startswith("Error")]
    finally:
        timer.cancel()
        shutil.rmtree(scratch, ignore_errors=True)

    # -- report --------------------------------------------------------------------------------------------------
    b_lat = [r.seconds for r in base.edits]
    l_lat = [r.seconds for r in load.edits]
    b50, b95 = percentiles(b_lat)
    l50, l95 = percentiles(l_lat)
    bq50, bq95 = percentiles([r.queued for r in base.edits])
    lq50, lq95 = percentiles([r.queued for r in load.edits])
    lp50, lp95 = percentiles(load.loads)
    peak_server = sampler.peaks.get("load", 0)
    errors = load.error_count + len(server_errors)
    retrain = "no retrain (--no-retrain)" if run_id is None else f"retrain run {run_id} in the scratch registry"

    print(f"\nLoad test of the Labeling functions page on {data} (seed scale; a scratch copy with its own run "
          f"registry), {args.sessions} sessions x {args.seconds:g} s, an edit of {LF}'s threshold every "
          f"{args.interval:g} s per session, {retrain}")
    print(f"server {url} up in {up_s:.1f} s (log {log}); Streamlit websocket clients, Host 127.0.0.1:{port}")
    print(f"machine: {os.cpu_count()} cores; other work on it kept {base_others:.1f} of them busy on average during "
          f"the baseline and {load_others:.1f} during the load (it slows both phases)")
    if warm.loads:
        print(f"warm-up session: first page load {warm.loads[0]:.2f} s (fresh server); "
              f"{len(warm.edits)} edits not counted")
    print(f"\n{'edit -> figures':38} {'edits':>6} {'p50':>8} {'p95':>8} {'max':>8} {'errors':>7}")
    for name, phase, p50, p95 in (("baseline: 1 session, no retrain", base, b50, b95),
                                  (f"load: {args.sessions} sessions" + ("" if run_id is None else " + retrain"),
                                   load, l50, l95)):
        lat = [r.seconds for r in phase.edits]
        print(f"{name:38} {len(lat):6d} {p50:6.3f} s {p95:6.3f} s {max(lat, default=float('nan')):6.3f} s "
              f"{phase.error_count:7d}")
    print(f"{'ratio load / baseline':38} {'':6} {l50 / b50:6.2f} x {l95 / b95:6.2f} x")
    print(f"  until the server's first message: baseline p50 {bq50:.3f} s p95 {bq95:.3f} s; load p50 {lq50:.3f} s "
          f"p95 {lq95:.3f} s")
    print(f"  bytes per edit (median): {np.median([r.nbytes for r in load.edits or base.edits]) / 1024:.0f} KiB")
    print(f"page load (open the page): baseline {base.loads[0] if base.loads else float('nan'):.2f} s; under load "
          f"p50 {lp50:.2f} s p95 {lp95:.2f} s ({len(load.loads)} sessions)")
    print(f"server CPU: baseline {base_cpu:.1f} s over {base_wall:.0f} s ({base_cpu / max(len(b_lat), 1):.2f} s per "
          f"edit); load {load_cpu:.1f} s over {load_wall:.0f} s ({load_cpu / max(len(l_lat), 1):.2f} s per edit); "
          f"the clients {client_cpu:.1f} s")

    print(f"\nerrors under load: {load.error_count} in the sessions"
          + "".join(f"; {kind} {len(v)}" for kind, v in load.errors.items())
          + f"; {len(server_errors)} error lines in the server log (warm-up {warm.error_count}, baseline "
          f"{base.error_count})")
    for phase in (warm, base, load):
        for kind, details in phase.errors.items():
            for detail in details[:3]:
                print(f"  {phase.name}, {kind}: {detail}")
    for line in server_errors[:5]:
        print(f"  server log: {line[:200]}")
    peaks = {name: sampler.peaks.get(name, 0) / GB for name in ("load", "baseline", "warm-up")}
    print(f"memory: server peak RSS (process and children) {peaks['load']:.2f} GB under load; baseline "
          f"{peaks['baseline']:.2f} GB, warm-up {peaks['warm-up']:.2f} GB")
    if run_id is not None:
        stages = ", ".join(f"{stage} at {t - retrain_t0:.0f} s" for t, stage in sampler.stages)
        ended = (f"ended {run.status} after {retrain_end - retrain_t0:.0f} s" if retrain_end is not None else
                 f"still running when the load ended ({load_end - retrain_t0:.0f} s); {run.status} by this script")
        print(f"retrain job: run {run_id} {ended}; {sampler_job_cpu:.0f} CPU s during the load; peak RSS "
              f"{sampler.job_peak / GB:.2f} GB; server and job together "
              f"{sampler.both_peak / GB:.2f} GB; stages: {stages} (log {data / 'load.retrain.log'})")

    print("\ntargets (load):")
    checks = ((f"0 errors ({errors})", errors == 0),
              (f"p95 edit -> figures <= {TARGET_P95_S:g} s ({l95:.2f} s)", l95 <= TARGET_P95_S),
              (f"peak server memory <= {TARGET_MEMORY_GB:g} GB ({peak_server / GB:.2f} GB)",
               peak_server <= TARGET_MEMORY_GB * GB))
    for text, ok in checks:
        print(f"  {text}: {'ok' if ok else 'MISSED'}")

    labels = {**base.labels, **load.labels}
    for name, runs, wall in (("baseline", base.edits, b50), ("load", load.edits, l50)):
        if runs:
            print(f"\nwhere an edit's time goes, {name} (mean per edit over {len(runs)} edits; median edit "
                  f"{wall * 1000:.0f} ms):")
            print(fmt_split(time_split(runs, labels, 8), float(np.mean([r.seconds for r in runs]))))
    if args.profile:
        print("\nserver profile, baseline (sampled script threads):")
        print(profile_report(snaps[0], snaps[1]))
        print("\nserver profile, load:")
        print(profile_report(snaps[1], snaps[2]))


if __name__ == "__main__":
    main()
