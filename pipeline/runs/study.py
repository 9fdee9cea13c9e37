"""Impact studies: what each enabled LF is worth to the end model, measured by retraining without it.

A study is one run group (pipeline.runs.registry, kind KIND) of N + 1 retrains with the same params: first the
config as given ("all LFs"), then, for each of its N enabled LFs in config order, the config with that LF switched
off ("without NAME"). Only one run may be active at a time, so the runs go one after another, started by a driver
process of their own:

1. `start` checks the config (at least 2 enabled LFs), records the group (refused while a run or another study is
   active) and launches ``python -m pipeline study run --group G --data DATA`` detached (jobs.launch), its output
   in ``<data>/runs/studies/G.log``.
2. The driver (`drive`) creates each run in the group (create_exclusive, so a retrain started from elsewhere in the
   gap between two runs is waited for, never run beside), launches its job with jobs.spawn and waits for it to end.
   A run that fails or is cancelled stops the study: the group ends failed or cancelled, saying which run and why.
3. `cancel` ends the group as cancelled first (the registry then refuses it any further run, in the same
   transaction that would create one), then cancels its active run.

`study_rows` gives the table: each run's key metrics and, for each "without" run, the delta to the "all LFs" run
(`compare_runs`) with its 95% paired-bootstrap interval (`paired_run_deltas`). A negative delta means the model
does worse without the LF: the LF helps.
"""

from __future__ import annotations

import dataclasses
import math
import os
import signal
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from lfs.config import LFConfig, dumps_config, parse_config
from pipeline.runs import jobs
from pipeline.runs.comparisons import NOT_SIGNIFICANT, RunPairDeltas, delta_text, pair_settings, paired_run_deltas
from pipeline.runs.registry import Group, InvalidTransition, Registry, Run, RunInProgress
from pipeline.runs.summary import HEADLINE_METRICS, compare_runs

__all__ = ["ALL_LFS", "KIND", "METRICS", "cancel", "describe", "drive", "log_path", "plan", "start", "study_frame",
           "study_rows"]

KIND = "impact study"
ALL_LFS = "all LFs"
STUDY_COMMAND = ("-m", "pipeline", "study", "run")
METRICS = HEADLINE_METRICS  # our model's, in the table
POLL_SECONDS = 0.5


def without(name: str) -> str:
    return f"without {name}"


def plan(config: LFConfig) -> list[tuple[str, LFConfig]]:
    """(label, LF config) of each run in order: all LFs, then each enabled LF switched off. A ValueError below 2
    enabled LFs (without the only one, nothing would label)."""
    enabled = config.enabled()
    if len(enabled) < 2:
        names = ", ".join(s.name for s in enabled) or "none"
        raise ValueError(f"an impact study needs at least 2 enabled LFs; the config has {len(enabled)} ({names}): "
                         "enable more, or retrain once instead")
    return [(ALL_LFS, config)] + [(without(s.name), config.replace(s.name, dataclasses.replace(s, enabled=False)))
                                  for s in enabled]


def _plan_of(group: Group) -> list[tuple[str, LFConfig]]:
    return plan(parse_config(group.lf_config_toml, source=f"{KIND} {group.id}"))


def log_path(registry: Registry, group_id: int) -> Path:
    """The driver's log (not under a numbered folder: those are runs')."""
    return registry.root / "studies" / f"{int(group_id)}.log"


# --------------------------------------------------------------------------------------------------------------
# starting and cancelling


def start(data_dir: str | Path, config: LFConfig, params: dict[str, Any], *, dataset_fingerprint: str,
          note: str = "", registry: Registry | None = None) -> int:
    """Record the study and launch its driver; the group id at once. A ValueError below 2 enabled LFs,
    RunInProgress while a run is active, GroupInProgress while another study runs."""
    plan(config)
    registry = registry or Registry.for_data(data_dir)
    group_id = registry.create_group(kind=KIND, lf_config_toml=dumps_config(config),
                                     dataset_fingerprint=dataset_fingerprint, params=params, note=note)
    try:
        pid = jobs.launch([*STUDY_COMMAND, "--group", str(group_id), "--data", str(Path(data_dir).resolve())],
                          log_path(registry, group_id))
    except BaseException as e:
        registry.finish_group(group_id, "failed", f"could not launch its driver process: {e!r}")
        raise
    registry.set_group_pid(group_id, pid)
    return group_id


def cancel(registry: Registry, group_id: int, *, wait: float | None = None,
           reason: str = "cancelled by request") -> str:
    """End the study as cancelled (no further run starts) and cancel its active run; what happened, in words."""
    group = registry.group(group_id)
    if not group.is_active:
        return f"{KIND} {group.id} already {group.status}; nothing to cancel"
    registry.finish_group(group.id, "cancelled", reason)
    said = [jobs.cancel(registry, run.id, wait=wait) for run in registry.group_runs(group.id) if run.is_active]
    return f"{KIND} {group.id} cancelled; no further run starts" + "".join(f"; {s}" for s in said)


# --------------------------------------------------------------------------------------------------------------
# the driver process


def drive(data_dir: str | Path, group_id: int, *, registry: Registry | None = None, poll: float = POLL_SECONDS,
          log=None) -> int:
    """Run the study's retrains one after another and end the group; the exit code (jobs.EXIT_*). SIGTERM or
    Ctrl-C cancels the study."""
    log = log or sys.stderr
    registry = registry or Registry.for_data(data_dir)
    registry.set_group_pid(group_id, os.getpid())
    previous = signal.signal(signal.SIGTERM, _raise_cancelled)
    try:
        status, why = _run_all(registry, Path(data_dir), group_id, poll, log)
    except (jobs.Cancelled, KeyboardInterrupt):
        print(cancel(registry, group_id, reason="cancelled: its driver process was stopped"), file=log)
        return jobs.EXIT_CANCELLED
    except BaseException:
        text = traceback.format_exc()
        registry.finish_group(group_id, "failed", f"its driver failed: {text.strip().splitlines()[-1]}\n{text}")
        print(text, file=log)
        return jobs.EXIT_FAILED
    finally:
        signal.signal(signal.SIGTERM, previous)
    if status is None:
        print(f"{KIND} {group_id} ended from outside: {registry.group(group_id).status}", file=log)
    elif registry.finish_group(group_id, status, why):
        print(f"{KIND} {group_id} {status}" + (f": {why}" if why else ""), file=log)
    return {"succeeded": jobs.EXIT_OK, "failed": jobs.EXIT_FAILED}.get(status or "", jobs.EXIT_CANCELLED)


def _raise_cancelled(signum: int, frame: Any) -> None:
    raise jobs.Cancelled(f"{signal.Signals(signum).name} received")


def _run_all(registry: Registry, data: Path, group_id: int, poll: float, log) -> tuple[str | None, str | None]:
    """(status, why) to end the group with; (None, None) when it was ended from outside (cancelled)."""
    group = registry.group(group_id)
    done = {run.group_label: run for run in registry.group_runs(group_id)}  # a restarted driver goes on
    for label, config in _plan_of(group):
        run_id = done[label].id if label in done else _start_run(registry, data, group, label, config, poll, log)
        if run_id is None:
            return None, None
        run = _wait(registry, group_id, run_id, poll)
        if run is None:
            return None, None
        if run.status != "succeeded":
            error = [line for line in (run.error or "").splitlines() if line.strip()]
            why = f"run {run.id} ({label}) {run.status}" + (f": {error[-1].strip()}" if error else "")
            return ("cancelled" if run.status == "cancelled" else "failed"), why + "; the study stops"
        print(f"run {run.id} ({label}) succeeded", file=log)
    return "succeeded", None


def _start_run(registry: Registry, data: Path, group: Group, label: str, config: LFConfig, poll: float,
               log) -> int | None:
    """Create and launch the run `label`, once no other run is active; None when the group has ended."""
    waiting_for = None
    while True:
        try:
            run_id = registry.create_exclusive(
                dataset_fingerprint=group.dataset_fingerprint, lf_config_toml=dumps_config(config),
                lf_config_hash=config.key, params=group.params, note=f"{KIND} {group.id}: {label}",
                group_id=group.id, group_label=label)
        except RunInProgress as e:  # a retrain started from elsewhere between two of ours: its turn first
            if e.run.id != waiting_for:
                waiting_for = e.run.id
                print(f"waiting for run {e.run.id} (not part of the study) to end", file=log)
            if not registry.group_heartbeat(group.id):
                return None
            time.sleep(poll)
            continue
        except InvalidTransition:  # the group was cancelled meanwhile
            return None
        jobs.spawn(data, run_id, registry=registry)
        print(f"run {run_id} ({label}) started", file=log)
        return run_id


def _wait(registry: Registry, group_id: int, run_id: int, poll: float) -> Run | None:
    """Run `run_id` once it has ended; None when the group ended first (its run is then cancelled)."""
    last_beat = time.monotonic()
    while True:
        run = registry.get(run_id)
        if run.is_finished:
            return run
        if time.monotonic() - last_beat >= jobs.HEARTBEAT_SECONDS:
            last_beat = time.monotonic()
            if not registry.group_heartbeat(group_id):
                jobs.cancel(registry, run_id)
                return None
        elif not registry.group(group_id).is_active:
            jobs.cancel(registry, run_id)
            return None
        time.sleep(poll)


# --------------------------------------------------------------------------------------------------------------
# the table

PairFn = Callable[[Run, Run], RunPairDeltas]


def _pair(a: Run, b: Run, metrics_b: Any) -> RunPairDeltas:
    return paired_run_deltas(a, b, **pair_settings(metrics_b))


def study_rows(registry: Registry, group_id: int, pair: PairFn | None = None) -> list[dict[str, Any]]:
    """One row per planned run, in order: label, run (id or None), status ("pending" / "not run" before it
    exists), stage, metrics {metric: our model's value} and, for a succeeded "without" run beside a succeeded "all
    LFs" run, deltas {metric: {delta, lo, hi, verdict}} (this run - all LFs, from `compare_runs`; the interval from
    `pair(all_lfs_run, run)`, by default paired_run_deltas) and interval_note (why there is no interval)."""
    group = registry.group(group_id)
    runs = {run.group_label: run for run in registry.group_runs(group_id)}
    metrics = {run.id: registry.results(run.id).get("metrics") for run in runs.values() if run.status == "succeeded"}
    base = runs.get(ALL_LFS)
    rows = []
    for label, _ in _plan_of(group):
        run = runs.get(label)
        row = {"label": label, "run": run.id if run else None,
               "status": run.status if run else ("pending" if group.is_active else "not run"),
               "stage": run.stage_text() if run and run.is_active else "",
               "metrics": {m: _ours(metrics.get(run.id) if run else None, m) for m in METRICS},
               "deltas": {}, "interval_note": ""}
        if run and base and run is not base and run.id in metrics and base.id in metrics:
            row["deltas"], row["interval_note"] = _deltas(base, run, metrics[base.id], metrics[run.id], pair)
        rows.append(row)
    return rows


def _ours(metrics: Any, metric: str) -> float | None:
    value = (((metrics or {}).get("contenders") or {}).get("ours") or {}).get(metric)
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    return float(value) if ok else None


def _deltas(base: Run, run: Run, metrics_base: Any, metrics_run: Any, pair: PairFn | None):
    deltas = {key: d for key, _, _, d in compare_runs(base, run, metrics_base, metrics_run).metrics}
    paired = pair(base, run) if pair else _pair(base, run, metrics_run)
    found = paired.lookup()
    same = "ours" in paired.unchanged  # identical scores: the bootstrap's interval is [0, 0]
    out = {}
    for metric in METRICS:
        delta = deltas.get(f"contenders.ours.{metric}")
        if delta is None:
            continue
        hit = found.get(("ours", metric))
        if same:
            lo, hi, verdict = 0.0, 0.0, NOT_SIGNIFICANT
        elif hit is not None and hit["significant"] is not None:
            lo, hi, verdict = hit["lo"], hit["hi"], hit["verdict"]
        else:
            lo, hi, verdict = None, None, "no interval"
        out[metric] = {"delta": delta, "lo": lo, "hi": hi, "verdict": verdict}
    note = paired.reason or ("identical per-row scores: every delta is 0" if same else "")
    return out, note


def study_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """The rows as the table `study show` prints and the Runs page draws: label, run, status, each metric, and
    each metric's delta to all LFs with its interval ("-0.0200 [-0.0500, +0.0100] not significant")."""
    records = []
    for row in rows:
        record = {"LFs": row["label"], "run": row["run"], "status": row["status"] + (f" ({row['stage']})"
                                                                                     if row["stage"] else "")}
        for metric, title in METRICS.items():
            record[title] = row["metrics"].get(metric)
        for metric, title in METRICS.items():
            d = row["deltas"].get(metric)
            record[f"Δ {title}"] = delta_text(d["delta"], d["lo"], d["hi"]) if d else ""
        records.append(record)
    return pd.DataFrame(records)


def describe(registry: Registry, group: Group) -> str:
    """One line on where the study is: its status, how many runs ended, what runs now or why it stopped."""
    runs = registry.group_runs(group.id)
    planned = len(_plan_of(group))
    ended = sum(run.is_finished for run in runs)
    text = f"{KIND} {group.id} · {group.status} · {ended} of {planned} runs ended"
    active = next((run for run in runs if run.is_active), None)
    if active is not None:
        text += f" · now run {active.id} ({active.group_label}): " + (active.stage_text() if active.stage
                                                                       else active.status)
    elif group.is_active and (other := registry.active()) is not None:
        text += f" · waiting for run {other.id} (not part of the study) to end"
    if group.error:
        text += f" · {group.error.splitlines()[0]}"
    return text
