"""The run registry: one SQLite file recording every retrain, its progress, results and artifacts.

A run is one retrain. The job process writes its stage, per-epoch history and results as it goes; the CLI and the
workbench read them, from other processes, at the same time. So the file is opened in WAL mode (readers never
block the writer) with a busy timeout, and every call opens its own short-lived connection: a `Registry` holds
only a path and may be shared by threads and re-created in any process.

Layout: ``<data>/runs/registry.sqlite`` and one artifact folder per run, ``<data>/runs/<id>/`` (see `runs_dir`).
A folder is never reused: a new run's id is above every id the registry handed out and above every numbered folder
under ``<data>/runs/``, so a lost or deleted registry file restarts nothing at 1 over older runs' artifacts.

Lifecycle of a run (checked; anything else raises `InvalidTransition`)::

    queued -> running -> succeeded | failed | cancelled
    queued -> cancelled | failed

At most one run is active (queued or running): `create_exclusive` creates a run only when none is, inside one
``BEGIN IMMEDIATE`` transaction, so two processes asking at once cannot both win.

The model in use (schema 4) is chosen, not just the newest: the table ``model_in_use`` is its history, one row per
change (run, time, reason, by whom: "auto", "by hand", "migration"), the newest row being the model in use
(`model_in_use`, `current_model`). `promote` adds a row, `rollback` goes back to the previous model in use; both
refuse (ValueError naming the run and why, nothing written) a run that did not succeed or whose model file is
missing or unreadable. Which succeeded run is promoted automatically is pipeline.runs.promotion's rule. A registry
from before schema 4 starts its history with its newest succeeded run (`SEEDED_REASON`).

A job killed without a word (``kill -9``, the OOM killer, a segfault) cannot record its own end. Every reader
(`get`, `list`, `active`) first calls `reap`, which marks failed each active run whose process is gone (`job_alive`):

- on this host psutil decides, at once: no such process, or a zombie, or the pid now belongs to another process
  (its start time differs from the one recorded when the run took that pid);
- on another host (a run recorded before the container was recreated under a new hostname, or by a job on
  another machine sharing the data folder) psutil cannot look, so the run's heartbeat decides: the job process
  writes ``heartbeat_at`` every few seconds (pipeline.runs.jobs), and a run whose last heartbeat is older than
  `HEARTBEAT_STALE_SECONDS` (`Registry.stale_heartbeat_after`) is dead. The ages compare two hosts' clocks, so the
  limit is far above the beat interval and any sane clock skew.

So the next read shows the truth, and a run orphaned on a vanished host stops blocking new retrains a minute later.

Run groups (schema 3) tie runs that belong together, e.g. the N + 1 retrains of an impact study
(pipeline.runs.study): a group records its kind, note, the full LF config and retrain params, and the process that
drives it; each of its runs carries `group_id` and a `group_label` ("all LFs", "without polarity_positive").
A group is running until its driver ends it (succeeded, failed or cancelled, with the reason); readers reap a
group whose driver died, as they reap runs (`job_alive` judges a driver as it judges a job).

Example
-------
>>> reg = Registry(tmp / "runs" / "registry.sqlite")                                    # doctest: +SKIP
>>> run_id = reg.create_exclusive(dataset_fingerprint="ab12", lf_config_toml=text, lf_config_hash="cd34",
...                               params={"seed": 0})                                   # doctest: +SKIP
>>> reg.start(run_id, os.getpid()); reg.set_stage(run_id, "label model", 0.3)          # doctest: +SKIP
>>> reg.put_result(run_id, "metrics", {"ours": {"f1": 0.71}}); reg.finish(run_id, "succeeded")  # doctest: +SKIP
>>> reg.promote(run_id, "first model", "auto"); reg.current_model().id == run_id       # doctest: +SKIP
True
"""

from __future__ import annotations

import contextlib
import json
import socket
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil

from pipeline.data.files import running_since

__all__ = [
    "ACTIVE",
    "DIED_MESSAGE",
    "FINISHED",
    "HEARTBEAT_STALE_SECONDS",
    "LOST_MESSAGE",
    "SCHEMA_VERSION",
    "STATUSES",
    "Group",
    "GroupInProgress",
    "InUse",
    "GroupNotFound",
    "InvalidTransition",
    "Registry",
    "Run",
    "RunInProgress",
    "RunNotFound",
    "job_alive",
    "process_started",
]

REGISTRY_FILE = "registry.sqlite"
STATUSES = ("queued", "running", "succeeded", "failed", "cancelled")
ACTIVE = ("queued", "running")
FINISHED = ("succeeded", "failed", "cancelled")
TRANSITIONS: dict[str, frozenset[str]] = {
    "queued": frozenset({"running", "cancelled", "failed"}),
    "running": frozenset({"succeeded", "failed", "cancelled"}),
}
GROUP_STATUSES = ("running", "succeeded", "failed", "cancelled")
DIED_MESSAGE = "the job process died without a word (killed or crashed)"
LOST_MESSAGE = "the job process stopped sending heartbeats (its host or container is gone, or it cannot be reached)"
NEVER_STARTED_MESSAGE = "the job was queued but its process was never launched"
BUSY_TIMEOUT_MS = 10_000
STALE_QUEUED_SECONDS = 300.0
# A run on another host is dead once its last heartbeat is this old: 12 beats of pipeline.runs.jobs
# (HEARTBEAT_SECONDS), so a registry busy for a while or a small clock skew between hosts does not reap a live job.
HEARTBEAT_STALE_SECONDS = 60.0
LOG_TAIL_LINES = 20
SEEDED_REASON = "in use before promotion was recorded"

# Migrations: MIGRATIONS[k] takes the file from schema version k to k + 1 (PRAGMA user_version). Append, never edit.
MIGRATIONS: list[list[str]] = [
    [
        f"""CREATE TABLE runs (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            created_at TEXT NOT NULL,
            started_at TEXT,
            finished_at TEXT,
            status TEXT NOT NULL CHECK (status IN ({", ".join(f"'{s}'" for s in STATUSES)})),
            pid INTEGER,
            pid_started INTEGER,
            host TEXT,
            dataset_fingerprint TEXT NOT NULL,
            lf_config_toml TEXT NOT NULL,
            lf_config_hash TEXT NOT NULL,
            params_json TEXT NOT NULL DEFAULT '{{}}',
            stage TEXT,
            progress REAL CHECK (progress IS NULL OR (progress >= 0 AND progress <= 1)),
            stage_detail TEXT NOT NULL DEFAULT '',
            error TEXT,
            artifacts_json TEXT NOT NULL DEFAULT '{{}}',
            note TEXT NOT NULL DEFAULT ''
        )""",
        "CREATE INDEX runs_by_status ON runs (status)",
        """CREATE TABLE run_results (
            run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
            key TEXT NOT NULL,
            json TEXT NOT NULL,
            PRIMARY KEY (run_id, key)
        )""",
        """CREATE TABLE epochs (
            run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
            model TEXT NOT NULL,
            epoch INTEGER NOT NULL,
            logs_json TEXT NOT NULL,
            PRIMARY KEY (run_id, model, epoch)
        )""",
    ],
    # 1 -> 2: the job's heartbeat (UTC ISO time), the liveness of runs whose host psutil cannot see
    ["ALTER TABLE runs ADD COLUMN heartbeat_at TEXT"],
    # 2 -> 3: run groups (an impact study's runs), driven by a process of their own
    [
        f"""CREATE TABLE run_groups (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            kind TEXT NOT NULL,
            created_at TEXT NOT NULL,
            note TEXT NOT NULL DEFAULT '',
            lf_config_toml TEXT NOT NULL,
            dataset_fingerprint TEXT NOT NULL DEFAULT '',
            params_json TEXT NOT NULL DEFAULT '{{}}',
            status TEXT NOT NULL DEFAULT 'running' CHECK (status IN ({", ".join(f"'{s}'" for s in GROUP_STATUSES)})),
            finished_at TEXT,
            error TEXT,
            pid INTEGER,
            pid_started INTEGER,
            host TEXT,
            heartbeat_at TEXT
        )""",
        "ALTER TABLE runs ADD COLUMN group_id INTEGER REFERENCES run_groups (id)",
        "ALTER TABLE runs ADD COLUMN group_label TEXT",
        "CREATE INDEX runs_by_group ON runs (group_id)",
    ],
    # 3 -> 4: which run's model is in use, as a history (the newest row is the model in use); a registry with
    # succeeded runs starts it with the newest one, the model in use until then
    [
        """CREATE TABLE model_in_use (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            run_id INTEGER NOT NULL REFERENCES runs (id),
            at TEXT NOT NULL,
            reason TEXT NOT NULL,
            "by" TEXT NOT NULL
        )""",
        f"""INSERT INTO model_in_use (run_id, at, reason, "by")
            SELECT id, strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now'), '{SEEDED_REASON}', 'migration'
            FROM runs WHERE status = 'succeeded' ORDER BY finished_at DESC, id DESC LIMIT 1""",
    ],
]
SCHEMA_VERSION = len(MIGRATIONS)


class RunNotFound(KeyError, ValueError):
    """No run has this id (a KeyError for lookups, a ValueError so the CLI reports it as bad input)."""

    def __str__(self) -> str:  # KeyError's str() would quote the message
        return str(self.args[0]) if self.args else ""


class GroupNotFound(RunNotFound):
    """No run group has this id."""


class GroupInProgress(ValueError):
    """Another run group (an impact study) is running; `.group` is that group."""

    def __init__(self, group: Group):
        self.group = group
        super().__init__(f"{group.kind} {group.id} is running (created {group.created_at}); only one may run at a "
                         f"time: wait for it or cancel it with `python -m pipeline study cancel {group.id}`")


class InvalidTransition(ValueError):
    """A status change the lifecycle does not allow (e.g. succeeded -> failed)."""


class RunInProgress(ValueError):
    """Another run is active; `.run` is that run."""

    def __init__(self, run: Run):
        self.run = run
        where = f"stage {run.stage!r}" if run.stage else "no stage yet"
        if run.progress is not None:
            where += f", {run.progress:.0%}"
        pid = f", pid {run.pid} on {run.host}" if run.pid is not None else ""
        if run.heartbeat_at is not None:
            pid += f", last heartbeat {run.heartbeat_age():.0f} s ago"
        super().__init__(
            f"run {run.id} is {run.status} ({where}{pid}, created {run.created_at}); only one run may be active at "
            f"a time: wait for it to finish or cancel it with `python -m pipeline runs cancel {run.id}`")


def utc_now() -> str:
    """The current UTC time as ISO 8601 with milliseconds, e.g. 2026-05-09T07:35:25.123+00:00."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _seconds_between(start: str, end: str) -> float:
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()


def _json_default(value: Any) -> Any:
    """JSON for what results usually hold: numpy scalars and arrays, pandas frames (as records), paths."""
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "to_dict") and hasattr(value, "columns"):  # a pandas DataFrame; a labelled index is kept
        plain = type(value.index).__name__ == "RangeIndex" and value.index.name is None
        return (value if plain else value.reset_index()).to_dict(orient="records")
    if hasattr(value, "to_dict"):  # a pandas Series
        return value.to_dict()
    if hasattr(value, "tolist"):  # numpy arrays and scalars
        return value.tolist()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"cannot store a {type(value).__name__} as JSON")


def to_json(value: Any) -> str:
    """`value` as JSON text (NaN stays NaN: a metric can be undefined)."""
    return json.dumps(value, default=_json_default, sort_keys=False)


# --------------------------------------------------------------------------------------------------------------
# Processes


def process_started(pid: int) -> int | None:
    """When process `pid` started, in milliseconds since the epoch (psutil), or None without that process."""
    try:
        return round(psutil.Process(pid).create_time() * 1000)
    except (psutil.NoSuchProcess, psutil.AccessDenied, ValueError):
        return None


def heartbeat_limit(run: Run, stale_after: float, queued_stale_after: float) -> float:
    """How old the last sign of life of a run on another host may be: a queued run's job has not beaten yet, and
    may take a while to be launched and to start."""
    return stale_after if run.status == "running" else max(stale_after, queued_stale_after)


def job_alive(run: Run, *, stale_after: float = HEARTBEAT_STALE_SECONDS,
              queued_stale_after: float = STALE_QUEUED_SECONDS) -> bool:
    """Whether the process of an active run still runs (see the module docstring).

    On this host psutil decides, heartbeat or not: a dead pid is dead at once, and a live one (the same process)
    is alive even with an old heartbeat (a suspended laptop, a long native call holding the GIL): reaping it would
    let a second retrain run beside it. On another host: alive while the last heartbeat (else the start) is at
    most `stale_after` seconds old; a queued run, whose job has not beaten yet, while its creation is at most
    `queued_stale_after` seconds old. No pid (a queued run not yet launched): True; `Registry.reap` ages those.
    """
    if run.pid is None:
        return True
    if not run.on_this_host:
        return run.heartbeat_age() <= heartbeat_limit(run, stale_after, queued_stale_after)
    try:
        started = running_since(run.pid)
    except psutil.AccessDenied:  # exists, owned by someone else: trust the recorded start time if any
        return run.pid_started is None
    if started is None:
        return False
    # the same pid with another start time is another process: the job's pid was reused
    return run.pid_started is None or round(started * 1000) == run.pid_started


# --------------------------------------------------------------------------------------------------------------
# Runs


@dataclass(frozen=True)
class Run:
    """One row of the registry, decoded. `dir` is the run's artifact folder (it may not exist yet)."""

    id: int
    status: str
    created_at: str
    started_at: str | None
    finished_at: str | None
    pid: int | None
    pid_started: int | None
    host: str | None
    dataset_fingerprint: str
    lf_config_toml: str
    lf_config_hash: str
    params: dict[str, Any]
    stage: str | None
    progress: float | None
    stage_detail: str
    error: str | None
    artifacts: dict[str, str]
    note: str
    dir: Path = field(compare=False)
    heartbeat_at: str | None = field(default=None, compare=False)  # liveness, not identity: it moves while running
    group_id: int | None = None  # the run group it belongs to (an impact study), if any
    group_label: str | None = None  # its part in that group, e.g. "without polarity_positive"

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE

    @property
    def is_finished(self) -> bool:
        return self.status in FINISHED

    @property
    def short_hash(self) -> str:
        return self.lf_config_hash[:10]

    @property
    def on_this_host(self) -> bool:
        """Whether the run's process (if any) was recorded on this host, where psutil can check and signal it."""
        return self.host == socket.gethostname()

    def heartbeat_age(self, now: str | None = None) -> float:
        """Seconds since the run's last sign of life: its last heartbeat, else its start, else its creation."""
        return _seconds_between(self.heartbeat_at or self.started_at or self.created_at, now or utc_now())

    def duration(self, now: str | None = None) -> float | None:
        """Seconds from start to finish (to `now` while running), or None if it never started."""
        if self.started_at is None:
            return None
        return _seconds_between(self.started_at, self.finished_at or now or utc_now())

    def artifact(self, key: str) -> Path:
        """The path of artifact `key`; relative paths are relative to the run's folder."""
        return self.dir / self.artifacts[key]

    def stage_text(self) -> str:
        """Stage, progress and detail in one short phrase, e.g. "train 40% (epoch 4 of 10)"."""
        parts = [self.stage or "-"]
        if self.progress is not None:
            parts.append(f"{self.progress:.0%}")
        if self.stage_detail:
            parts.append(f"({self.stage_detail})")
        return " ".join(parts)


def _run_from_row(row: sqlite3.Row, runs_root: Path) -> Run:
    return Run(
        id=row["id"], status=row["status"], created_at=row["created_at"], started_at=row["started_at"],
        finished_at=row["finished_at"], pid=row["pid"], pid_started=row["pid_started"], host=row["host"],
        dataset_fingerprint=row["dataset_fingerprint"], lf_config_toml=row["lf_config_toml"],
        lf_config_hash=row["lf_config_hash"], params=json.loads(row["params_json"]), stage=row["stage"],
        progress=row["progress"], stage_detail=row["stage_detail"], error=row["error"],
        artifacts=json.loads(row["artifacts_json"]), note=row["note"], dir=runs_root / str(row["id"]),
        heartbeat_at=row["heartbeat_at"], group_id=row["group_id"], group_label=row["group_label"],
    )


def model_refusal(run: Run) -> str | None:
    """Why `run` cannot be the model in use (it did not succeed, or its model file is missing or unreadable), or
    None when it can. The file is checked as a readable, non-empty regular file, not loaded (that needs TensorFlow
    and seconds); pipeline.runs.recommend loads it."""
    if run.status != "succeeded":
        said = {"failed": "it failed", "cancelled": "it was cancelled"}.get(run.status, f"it is {run.status}")
        return f"{said}; only a succeeded run has a model"
    return model_file_refusal(run)


def model_file_refusal(run: Run) -> str | None:
    """Why `run`'s model file cannot be used (none recorded, missing, empty, unreadable), or None."""
    if "model" not in run.artifacts:
        return "it recorded no model file"
    path = run.artifact("model")
    if not path.is_file():
        return f"its model file {path} is missing"
    try:
        with path.open("rb") as f:
            if not f.read(1):
                return f"its model file {path} is empty"
    except OSError as e:
        return f"its model file {path} cannot be read ({e.strerror or e})"
    return None


@dataclass(frozen=True)
class InUse:
    """One change of the model in use: the row id, the run put in use, when (UTC ISO), why, and by whom."""

    id: int
    run_id: int
    at: str
    reason: str
    by: str


@dataclass(frozen=True)
class Group:
    """One row of ``run_groups``, decoded: runs that belong together (an impact study) and the process driving
    them. It has what `job_alive` reads of a run (pid, pid_started, host, status, heartbeat_age), so a driver's
    liveness is judged as a job's is."""

    id: int
    kind: str
    created_at: str
    note: str
    lf_config_toml: str
    dataset_fingerprint: str
    params: dict[str, Any]
    status: str
    finished_at: str | None
    error: str | None
    pid: int | None
    pid_started: int | None
    host: str | None
    heartbeat_at: str | None = field(default=None, compare=False)

    @property
    def is_active(self) -> bool:
        return self.status == "running"

    @property
    def on_this_host(self) -> bool:
        return self.host == socket.gethostname()

    def heartbeat_age(self, now: str | None = None) -> float:
        """Seconds since the driver's last heartbeat, else since the group was created."""
        return _seconds_between(self.heartbeat_at or self.created_at, now or utc_now())


def _group_from_row(row: sqlite3.Row) -> Group:
    return Group(id=row["id"], kind=row["kind"], created_at=row["created_at"], note=row["note"],
                 lf_config_toml=row["lf_config_toml"], dataset_fingerprint=row["dataset_fingerprint"],
                 params=json.loads(row["params_json"]), status=row["status"], finished_at=row["finished_at"],
                 error=row["error"], pid=row["pid"], pid_started=row["pid_started"], host=row["host"],
                 heartbeat_at=row["heartbeat_at"])


class Registry:
    """The run registry in the SQLite file `path` (created with its schema on first use).

    Parameters
    ----------
    path : the SQLite file; run artifact folders are created next to it (``path.parent / str(id)``).
    stale_queued_after : seconds after which a queued run that never got a process is reaped as failed.
    stale_heartbeat_after : seconds without a heartbeat after which a run on another host is reaped as failed.
    """

    def __init__(self, path: str | Path, *, stale_queued_after: float = STALE_QUEUED_SECONDS,
                 stale_heartbeat_after: float = HEARTBEAT_STALE_SECONDS):
        self.path = Path(path)
        self.stale_queued_after = stale_queued_after
        self.stale_heartbeat_after = stale_heartbeat_after
        self._schema_ready = False

    @classmethod
    def for_data(cls, data_dir: str | Path, **kwargs: Any) -> Registry:
        """The registry of a data folder: ``<data_dir>/runs/registry.sqlite``."""
        return cls(Path(data_dir) / "runs" / REGISTRY_FILE, **kwargs)

    def __repr__(self) -> str:
        return f"Registry({str(self.path)!r})"

    @property
    def root(self) -> Path:
        """The folder holding the SQLite file and one artifact folder per run."""
        return self.path.parent

    def runs_dir(self, run_id: int) -> Path:
        """The artifact folder of run `run_id` (not created here)."""
        return self.root / str(int(run_id))

    def is_alive(self, run: Run) -> bool:
        """`job_alive` with this registry's staleness limits."""
        return job_alive(run, stale_after=self.stale_heartbeat_after, queued_stale_after=self.stale_queued_after)

    def heartbeat_limit(self, run: Run) -> float:
        """Seconds without a sign of life after which `run`, on another host, counts as dead."""
        return heartbeat_limit(run, self.stale_heartbeat_after, self.stale_queued_after)

    # ----------------------------------------------------------------------------------------------------------
    # connections and schema

    def _open(self) -> sqlite3.Connection:
        self.root.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA synchronous = NORMAL")  # safe in WAL mode; a power cut may drop the last commits
        return conn

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        """A fresh connection in autocommit mode (transactions are explicit), closed afterwards."""
        conn = self._open()
        try:
            if not self._schema_ready:
                self._migrate(conn)
                self._schema_ready = True
            yield conn
        finally:
            conn.close()

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """A connection inside ``BEGIN IMMEDIATE``: committed on success, rolled back on any exception (a
        cancellation included)."""
        with self._connect() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def _migrate(self, conn: sqlite3.Connection) -> None:
        if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if mode.lower() != "wal":
                raise OSError(f"{self.path}: SQLite refused WAL journal mode (got {mode!r})")
        if conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION:
            return
        conn.execute("BEGIN IMMEDIATE")
        try:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise ValueError(f"{self.path}: registry schema version {version} is newer than this code's "
                                 f"{SCHEMA_VERSION}; update the workbench")
            for step in MIGRATIONS[version:]:
                for statement in step:
                    conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def journal_mode(self) -> str:
        with self._connect() as conn:
            return conn.execute("PRAGMA journal_mode").fetchone()[0]

    def schema_version(self) -> int:
        with self._connect() as conn:
            return conn.execute("PRAGMA user_version").fetchone()[0]

    # ----------------------------------------------------------------------------------------------------------
    # readers (each reaps dead jobs first)

    def _row(self, conn: sqlite3.Connection, run_id: int) -> sqlite3.Row:
        row = conn.execute("SELECT * FROM runs WHERE id = ?", (int(run_id),)).fetchone()
        if row is None:
            raise RunNotFound(f"no run {run_id} in {self.path}")
        return row

    def get(self, run_id: int, *, reap: bool = True) -> Run:
        """Run `run_id`; raises RunNotFound (a KeyError and a ValueError) naming the id if there is none.
        reap=False reads it as recorded, dead job or not (for `jobs.cancel`, which ends a lost run itself)."""
        if reap:
            self.reap()
        with self._connect() as conn:
            return _run_from_row(self._row(conn, run_id), self.root)

    def list(self, limit: int | None = None, status: str | Iterable[str] | None = None) -> list[Run]:
        """Runs, newest first; optionally only the `limit` newest, or only those with a status (or statuses)."""
        self.reap()
        sql, args = "SELECT * FROM runs", []
        if status is not None:
            wanted = [status] if isinstance(status, str) else list(status)
            _check_statuses(wanted)
            sql += f" WHERE status IN ({', '.join('?' * len(wanted))})"
            args += wanted
        sql += " ORDER BY id DESC"
        if limit is not None:
            sql += " LIMIT ?"
            args.append(int(limit))
        with self._connect() as conn:
            return [_run_from_row(row, self.root) for row in conn.execute(sql, args)]

    def active(self) -> Run | None:
        """The queued or running run (after reaping dead ones), or None."""
        runs = self.list(limit=1, status=ACTIVE)
        return runs[0] if runs else None

    def current_model(self) -> Run | None:
        """The run whose model is in use (the newest row of the in-use history), or None before the first."""
        found = self.model_in_use()
        return None if found is None else found[0]

    def model_in_use(self) -> tuple[Run, str] | None:
        """(the run in use, why it is), or None while no model was ever put in use."""
        with self._connect() as conn:
            row = conn.execute("SELECT runs.*, model_in_use.reason AS in_use_reason FROM model_in_use "
                               "JOIN runs ON runs.id = model_in_use.run_id "
                               "ORDER BY model_in_use.id DESC LIMIT 1").fetchone()
        return None if row is None else (_run_from_row(row, self.root), row["in_use_reason"])

    def in_use_history(self) -> list[InUse]:
        """Every change of the model in use, newest first (the first entry is the model in use)."""
        with self._connect() as conn:
            rows = conn.execute('SELECT id, run_id, at, reason, "by" FROM model_in_use ORDER BY id DESC')
            return [InUse(*row) for row in rows]

    def promote(self, run_id: int, reason: str, by: str = "by hand") -> None:
        """Make run `run_id`'s model the model in use, recording why and by whom, in one transaction. ValueError
        (RunNotFound for an unknown id) naming the run and why when it has no usable model: nothing changes."""
        with self._write() as conn:
            self._check_promotable(conn, run_id)
            self._record_in_use(conn, run_id, reason, by)

    def rollback(self, by: str = "by hand") -> int:
        """Go back to the previous model in use of the history (recorded as a new row, "rolled back from run M");
        return its run id. ValueError when there is none or its model is no longer usable."""
        with self._write() as conn:
            rows = conn.execute("SELECT run_id FROM model_in_use ORDER BY id DESC").fetchall()
            if not rows:
                raise ValueError("no model is in use yet: there is nothing to roll back")
            current = rows[0]["run_id"]
            earlier = next((row["run_id"] for row in rows if row["run_id"] != current), None)
            if earlier is None:
                raise ValueError(f"run {current} is the only model ever in use: there is no earlier one to roll "
                                 "back to")
            self._check_promotable(conn, earlier)
            self._record_in_use(conn, earlier, f"rolled back from run {current}", by)
            return int(earlier)

    def _record_in_use(self, conn: sqlite3.Connection, run_id: int, reason: str, by: str) -> None:
        conn.execute('INSERT INTO model_in_use (run_id, at, reason, "by") VALUES (?, ?, ?, ?)',
                     (int(run_id), utc_now(), str(reason), str(by)))

    def _check_promotable(self, conn: sqlite3.Connection, run_id: int) -> None:
        run = _run_from_row(self._row(conn, run_id), self.root)
        why = model_refusal(run)
        if why is not None:
            raise ValueError(f"run {run.id} cannot be the model in use: {why}")

    def status(self, run_id: int) -> str:
        """The status of run `run_id`, read without reaping (cheap enough to poll from inside a job)."""
        with self._connect() as conn:
            return self._row(conn, run_id)["status"]

    def results(self, run_id: int) -> dict[str, Any]:
        """The named results of a run (e.g. "lf_summary", "label_model", "metrics"), decoded."""
        with self._connect() as conn:
            self._row(conn, run_id)
            rows = conn.execute("SELECT key, json FROM run_results WHERE run_id = ? ORDER BY key", (int(run_id),))
            return {key: json.loads(text) for key, text in rows}

    def epoch_records(self, run_id: int) -> list[dict[str, Any]]:
        """Per-epoch logs as dicts {"model", "epoch", **logs}, ordered by model then epoch."""
        with self._connect() as conn:
            self._row(conn, run_id)
            rows = conn.execute("SELECT model, epoch, logs_json FROM epochs WHERE run_id = ? ORDER BY model, epoch",
                                (int(run_id),))
            return [{"model": model, "epoch": epoch, **json.loads(logs)} for model, epoch, logs in rows]

    def epochs(self, run_id: int):
        """Per-epoch logs as a pandas DataFrame: columns model, epoch and one per logged figure."""
        import pandas as pd

        records = self.epoch_records(run_id)
        return pd.DataFrame.from_records(records, columns=None if records else ["model", "epoch"])

    # ----------------------------------------------------------------------------------------------------------
    # writers

    def create(self, *, dataset_fingerprint: str, lf_config_toml: str, lf_config_hash: str,
               params: dict[str, Any], note: str = "", group_id: int | None = None,
               group_label: str | None = None) -> int:
        """Record a new queued run and return its id (no check for other active runs: see create_exclusive).
        With `group_id` the run joins that group as `group_label`; the group must be running."""
        with self._write() as conn:
            return self._insert(conn, dataset_fingerprint, lf_config_toml, lf_config_hash, params, note, group_id,
                                group_label)

    def create_exclusive(self, *, dataset_fingerprint: str, lf_config_toml: str, lf_config_hash: str,
                         params: dict[str, Any], note: str = "", group_id: int | None = None,
                         group_label: str | None = None) -> int:
        """Like `create`, but only when no run is active (dead ones are reaped first), in one transaction;
        otherwise raises RunInProgress naming the active run and how to cancel it."""
        with self._write() as conn:
            self._refuse_if_active(conn)
            return self._insert(conn, dataset_fingerprint, lf_config_toml, lf_config_hash, params, note, group_id,
                                group_label)

    def _refuse_if_active(self, conn: sqlite3.Connection) -> None:
        self._reap_in(conn, self.is_alive)
        row = conn.execute("SELECT * FROM runs WHERE status IN ('queued', 'running') "
                           "ORDER BY id DESC LIMIT 1").fetchone()
        if row is not None:
            raise RunInProgress(_run_from_row(row, self.root))

    def _insert(self, conn: sqlite3.Connection, fingerprint: str, toml_text: str, config_hash: str,
                params: dict[str, Any], note: str, group_id: int | None = None, group_label: str | None = None) -> int:
        if not isinstance(params, dict):
            raise ValueError(f"params must be a dict, not {type(params).__name__}")
        if group_id is not None:  # checked in the insert's transaction: a cancelled study gets no further run
            status = self._group_row(conn, group_id)["status"]
            if status != "running":
                raise InvalidTransition(f"group {group_id} is {status}; it takes no further run")
        cursor = conn.execute(
            "INSERT INTO runs (id, created_at, status, dataset_fingerprint, lf_config_toml, lf_config_hash,"
            " params_json, note, group_id, group_label) VALUES (?, ?, 'queued', ?, ?, ?, ?, ?, ?, ?)",
            (self._next_id(conn), utc_now(), fingerprint, toml_text, config_hash, to_json(params), note,
             None if group_id is None else int(group_id), group_label))
        return int(cursor.lastrowid)

    def _next_id(self, conn: sqlite3.Connection) -> int:
        """One above every id this file handed out and every numbered entry under `root`: a registry file that
        was lost or deleted (ids restarting at 1) must not give a new run an older run's folder, which its job
        would write into and a cancel would empty. Called inside the insert's write transaction."""
        (highest,) = conn.execute("SELECT MAX(id) FROM runs").fetchone()
        sequence = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'runs'").fetchone()
        try:
            folders = [int(p.name) for p in self.root.iterdir() if p.name.isascii() and p.name.isdigit()]
        except FileNotFoundError:
            folders = []
        return max([highest or 0, sequence[0] if sequence else 0, *folders]) + 1

    def _transition(self, conn: sqlite3.Connection, run_id: int, new: str) -> sqlite3.Row:
        if new not in STATUSES:
            raise ValueError(f"unknown run status {new!r}; expected one of {', '.join(STATUSES)}")
        row = self._row(conn, run_id)
        if new not in TRANSITIONS.get(row["status"], ()):
            raise InvalidTransition(f"run {run_id} is {row['status']}; it cannot become {new}")
        return row

    def set_pid(self, run_id: int, pid: int) -> None:
        """Record the process launched for a queued run (so a launch that dies before `start` is reaped)."""
        with self._write() as conn:
            if self._row(conn, run_id)["status"] != "queued":
                return  # it started (or ended) already: the job recorded its own pid
            conn.execute("UPDATE runs SET pid = ?, pid_started = ?, host = ? WHERE id = ?",
                         (int(pid), process_started(pid), socket.gethostname(), int(run_id)))

    def start(self, run_id: int, pid: int) -> None:
        """queued -> running, recording the time (the first heartbeat too), the job's pid, its start time and this
        host."""
        with self._write() as conn:
            self._transition(conn, run_id, "running")
            now = utc_now()
            conn.execute("UPDATE runs SET status = 'running', started_at = ?, heartbeat_at = ?, pid = ?, "
                         "pid_started = ?, host = ? WHERE id = ?",
                         (now, now, int(pid), process_started(pid), socket.gethostname(), int(run_id)))

    def heartbeat(self, run_id: int) -> bool:
        """Record that the job of run `run_id` is alive now; False (and nothing written) once the run is no
        longer active (ended, cancelled or reaped meanwhile), or if there is no such run."""
        with self._write() as conn:
            cursor = conn.execute("UPDATE runs SET heartbeat_at = ? WHERE id = ? AND status IN ('queued', 'running')",
                                  (utc_now(), int(run_id)))
            return cursor.rowcount > 0

    def set_stage(self, run_id: int, stage: str, progress: float | None = None, detail: str = "") -> None:
        """Record what an active run is doing: a stage name, the stage's progress (0..1) and a detail line.
        Raises InvalidTransition if the run is no longer active (cancelled or reaped meanwhile)."""
        if progress is not None and not (0.0 <= progress <= 1.0):  # NaN fails too
            raise ValueError(f"progress must be between 0 and 1, got {progress}")
        with self._write() as conn:
            row = self._row(conn, run_id)
            if row["status"] not in ACTIVE:
                raise InvalidTransition(f"run {run_id} is {row['status']}; it has no stage to set")
            conn.execute("UPDATE runs SET stage = ?, progress = ?, stage_detail = ? WHERE id = ?",
                         (stage, None if progress is None else float(progress), detail, int(run_id)))

    def add_epoch(self, run_id: int, model: str, epoch: int, logs: dict[str, Any]) -> None:
        """Record (or replace) the logs of one epoch of one model, e.g. ("ours", 3, {"loss": 0.41})."""
        with self._write() as conn:
            self._row(conn, run_id)
            conn.execute("INSERT INTO epochs (run_id, model, epoch, logs_json) VALUES (?, ?, ?, ?) "
                         "ON CONFLICT (run_id, model, epoch) DO UPDATE SET logs_json = excluded.logs_json",
                         (int(run_id), model, int(epoch), to_json(dict(logs))))

    def put_result(self, run_id: int, key: str, value: Any) -> None:
        """Store (or replace) a named JSON result of a run. numpy values, pandas frames (as records) and paths
        are converted."""
        with self._write() as conn:
            self._row(conn, run_id)
            conn.execute("INSERT INTO run_results (run_id, key, json) VALUES (?, ?, ?) "
                         "ON CONFLICT (run_id, key) DO UPDATE SET json = excluded.json",
                         (int(run_id), key, to_json(value)))

    def set_artifacts(self, run_id: int, artifacts: dict[str, str | Path], *, replace: bool = False) -> None:
        """Merge (or with replace=True, set) the run's artifact paths. Paths inside the run's folder are stored
        relative to it (see Run.artifact), so a moved data folder keeps working."""
        base = self.runs_dir(run_id).resolve()
        new = {}
        for key, path in artifacts.items():
            path = Path(path)
            if path.is_absolute() and path.resolve().is_relative_to(base):
                path = path.resolve().relative_to(base)
            new[key] = str(path)
        with self._write() as conn:
            current = {} if replace else json.loads(self._row(conn, run_id)["artifacts_json"])
            conn.execute("UPDATE runs SET artifacts_json = ? WHERE id = ?",
                         (to_json({**current, **new}), int(run_id)))

    def finish(self, run_id: int, status: str, error: str | None = None, *, in_use_reason: str | None = None,
               by: str = "auto") -> None:
        """End a run: succeeded, failed or cancelled (with the error text or reason). With `in_use_reason` a
        succeeded run also becomes the model in use in the same transaction, so no reader sees it succeeded
        before the choice is made; if it cannot be (its model file), ValueError and nothing changes."""
        if status not in FINISHED:
            raise InvalidTransition(f"finish takes one of {', '.join(FINISHED)}, not {status!r}")
        with self._write() as conn:
            self._transition(conn, run_id, status)
            progress = ", progress = 1.0" if status == "succeeded" else ""
            conn.execute(f"UPDATE runs SET status = ?, finished_at = ?, error = ?{progress} WHERE id = ?",
                         (status, utc_now(), error, int(run_id)))
            if in_use_reason is not None and status == "succeeded":
                self._check_promotable(conn, run_id)
                self._record_in_use(conn, run_id, in_use_reason, by)

    # ----------------------------------------------------------------------------------------------------------
    # run groups

    def _group_row(self, conn: sqlite3.Connection, group_id: int) -> sqlite3.Row:
        row = conn.execute("SELECT * FROM run_groups WHERE id = ?", (int(group_id),)).fetchone()
        if row is None:
            raise GroupNotFound(f"no run group {group_id} in {self.path}")
        return row

    def create_group(self, *, kind: str, lf_config_toml: str, dataset_fingerprint: str = "",
                     params: dict[str, Any] | None = None, note: str = "", exclusive: bool = True) -> int:
        """Record a new running group and return its id. `exclusive` (the default): only while no run and no other
        group is active (dead ones reaped first), in one transaction; else RunInProgress or GroupInProgress."""
        self.reap_groups()
        with self._write() as conn:
            if exclusive:
                self._refuse_if_active(conn)
                row = conn.execute("SELECT * FROM run_groups WHERE status = 'running' ORDER BY id DESC LIMIT 1"
                                   ).fetchone()
                if row is not None:
                    raise GroupInProgress(_group_from_row(row))
            cursor = conn.execute(
                "INSERT INTO run_groups (kind, created_at, note, lf_config_toml, dataset_fingerprint, params_json)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (kind, utc_now(), note, lf_config_toml, dataset_fingerprint, to_json(params or {})))
            return int(cursor.lastrowid)

    def group(self, group_id: int) -> Group:
        """Group `group_id` (after reaping a dead driver); GroupNotFound (a KeyError and a ValueError) if none."""
        self.reap_groups()
        with self._connect() as conn:
            return _group_from_row(self._group_row(conn, group_id))

    def groups(self, limit: int | None = None) -> list[Group]:
        """Groups, newest first (optionally the `limit` newest)."""
        self.reap_groups()
        sql = "SELECT * FROM run_groups ORDER BY id DESC" + ("" if limit is None else f" LIMIT {int(limit)}")
        with self._connect() as conn:
            return [_group_from_row(row) for row in conn.execute(sql)]

    def group_runs(self, group_id: int) -> list[Run]:
        """The runs of group `group_id` in the order they were created."""
        self.reap()
        with self._connect() as conn:
            self._group_row(conn, group_id)
            rows = conn.execute("SELECT * FROM runs WHERE group_id = ? ORDER BY id", (int(group_id),))
            return [_run_from_row(row, self.root) for row in rows]

    def set_group_pid(self, group_id: int, pid: int) -> None:
        """Record the process driving group `group_id` (its launch, then the driver itself) and a first heartbeat."""
        with self._write() as conn:
            self._group_row(conn, group_id)
            conn.execute("UPDATE run_groups SET pid = ?, pid_started = ?, host = ?, heartbeat_at = ? WHERE id = ?",
                         (int(pid), process_started(pid), socket.gethostname(), utc_now(), int(group_id)))

    def group_heartbeat(self, group_id: int) -> bool:
        """Record that the driver of group `group_id` is alive; False once the group has ended."""
        with self._write() as conn:
            cursor = conn.execute("UPDATE run_groups SET heartbeat_at = ? WHERE id = ? AND status = 'running'",
                                  (utc_now(), int(group_id)))
            return cursor.rowcount > 0

    def finish_group(self, group_id: int, status: str, error: str | None = None) -> bool:
        """End a running group as succeeded, failed or cancelled (with the reason); False (nothing written) if it
        had ended already: the first end recorded stays."""
        if status not in FINISHED:
            raise InvalidTransition(f"finish_group takes one of {', '.join(FINISHED)}, not {status!r}")
        with self._write() as conn:
            self._group_row(conn, group_id)
            cursor = conn.execute("UPDATE run_groups SET status = ?, finished_at = ?, error = ? "
                                  "WHERE id = ? AND status = 'running'", (status, utc_now(), error, int(group_id)))
            return cursor.rowcount > 0

    def reap_groups(self) -> list[int]:
        """Mark failed every running group whose driver is gone (judged as `reap` judges jobs); their ids. The
        run it had started, if any, goes on by itself."""
        with self._connect() as conn:
            rows = conn.execute("SELECT * FROM run_groups WHERE status = 'running'").fetchall()
        now, dead = utc_now(), []
        for group in map(_group_from_row, rows):
            if group.pid is None:
                if _seconds_between(group.created_at, now) > self.stale_queued_after:
                    dead.append((group, "its driver process was never launched"))
            elif not self.is_alive(group):  # type: ignore[arg-type]  (a Group has what job_alive reads)
                dead.append((group, f"its driver process died (pid {group.pid} on {group.host}); no further run "
                                    "is started, and a run it had started goes on by itself"))
        return [group.id for group, why in dead if self.finish_group(group.id, "failed", why)]

    # ----------------------------------------------------------------------------------------------------------
    # reaping dead jobs

    def reap(self, is_alive: Callable[[Run], bool] | None = None) -> list[int]:
        """Mark failed every active run whose process is gone (see the module docstring); return their ids.

        `is_alive` defaults to `is_alive` (job_alive with this registry's limits). Reads first without a lock and
        takes the write lock only when there is something to mark.
        """
        is_alive = is_alive or self.is_alive
        with self._connect() as conn:
            if not self._dead_runs(conn, is_alive):
                return []
        with self._write() as conn:
            return self._reap_in(conn, is_alive)

    def _dead_runs(self, conn: sqlite3.Connection, is_alive: Callable[[Run], bool]) -> list[tuple[Run, str]]:
        dead = []
        now = utc_now()
        for row in conn.execute("SELECT * FROM runs WHERE status IN ('queued', 'running')"):
            run = _run_from_row(row, self.root)
            if run.pid is None:
                if run.status == "queued" and _seconds_between(run.created_at, now) > self.stale_queued_after:
                    dead.append((run, f"{NEVER_STARTED_MESSAGE} (queued at {run.created_at})"))
            elif not is_alive(run):
                dead.append((run, self._died_text(run)))
        return dead

    def _reap_in(self, conn: sqlite3.Connection, is_alive: Callable[[Run], bool]) -> list[int]:
        reaped = []
        for run, error in self._dead_runs(conn, is_alive):
            # compare-and-set: a job that ended by itself meanwhile keeps its own status
            cursor = conn.execute("UPDATE runs SET status = 'failed', finished_at = ?, error = ? "
                                  "WHERE id = ? AND status = ?", (utc_now(), error, run.id, run.status))
            if cursor.rowcount:
                reaped.append(run.id)
        return reaped

    def _died_text(self, run: Run) -> str:
        when = "before it started" if run.status == "queued" else f"during stage {run.stage or '-'}"
        if run.on_this_host:
            text = f"{DIED_MESSAGE}: pid {run.pid} on {run.host} is gone, {when}"
        else:  # psutil cannot see that host: only the heartbeat's silence is known
            text = (f"{LOST_MESSAGE}: pid {run.pid} on host {run.host} (this is {socket.gethostname()}) last gave a "
                    f"sign of life {run.heartbeat_age():.0f} s ago (limit {self.heartbeat_limit(run):g} s), {when}")
        log = run.dir / "job.log"
        try:
            tail = log.read_text(errors="replace").splitlines()[-LOG_TAIL_LINES:]
        except OSError:
            return text
        return text + (f"\nlast lines of {log}:\n" + "\n".join(tail) if tail else f"\n{log} is empty")


def _check_statuses(statuses: Iterable[str]) -> None:
    unknown = sorted(set(statuses) - set(STATUSES))
    if unknown:
        raise ValueError(f"unknown run status {', '.join(unknown)}; expected one of {', '.join(STATUSES)}")
