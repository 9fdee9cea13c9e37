"""`python -m pipeline runs list|show|compare|cancel|promote|rollback`: the run registry from the command line.

pipeline.cli registers this as one subcommand: `add_runs_arguments(parser)` adds the actions and their flags,
`run_runs(args)` runs one and returns the exit code. Bad input (an unknown run id, a missing registry) raises a
ValueError naming it, which the CLI prints as "error: ..." with exit status 2. The formatting functions are pure
(runs and results in, text out) over pipeline.runs.summary, which gives the same figures as data to the
workbench's Runs page.
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Sequence
from typing import Any

from pipeline.runs.registry import STATUSES, Registry, Run, RunNotFound
from pipeline.runs.summary import KEY_METRICS, compare_runs, flatten, fmt_time, is_number, promotion_outcome, run_row

__all__ = ["add_runs_arguments", "format_comparison", "format_run", "format_runs_table", "in_use_text", "run_runs"]

PROMOTED_BY_HAND = "promoted by hand"
BY_HAND = "by hand"


def add_runs_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the actions list, show, compare and cancel (each with --data) to the `runs` subcommand's parser."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--data", default="data", metavar="DIR",
                        help="data folder whose runs/ holds the registry (default: %(default)s)")
    actions = parser.add_subparsers(dest="runs_command", required=True, metavar="ACTION")
    p = actions.add_parser("list", parents=[common], help="the newest runs with status, stage and key metrics")
    p.add_argument("--limit", type=int, default=20, metavar="N", help="show the N newest runs (default: 20)")
    p.add_argument("--status", choices=STATUSES, default=None, help="only runs with this status")
    p = actions.add_parser("show", parents=[common], help="everything recorded about one run")
    p.add_argument("run_id", type=int, metavar="ID")
    p.add_argument("--epochs", type=int, default=5, metavar="N", help="last N epochs per model (default: 5)")
    p = actions.add_parser("compare", parents=[common], help="params, LF config and metrics of run B against A")
    p.add_argument("a", type=int, metavar="A")
    p.add_argument("b", type=int, metavar="B")
    p = actions.add_parser("cancel", parents=[common], help="stop a queued or running run (it ends as cancelled)")
    p.add_argument("run_id", type=int, metavar="ID")
    p.add_argument("--wait", type=float, default=10.0, metavar="SECONDS",
                   help="wait up to this long for the job to stop; 0 returns at once (default: 10)")
    p = actions.add_parser("promote", parents=[common], help="make a succeeded run's model the model in use")
    p.add_argument("run_id", type=int, metavar="ID")
    p.add_argument("--reason", default=PROMOTED_BY_HAND, help="why (recorded; default: %(default)s)")
    actions.add_parser("rollback", parents=[common], help="go back to the previous model in use")


def run_runs(args: argparse.Namespace) -> int:
    """Run the action chosen in `args` (parsed with add_runs_arguments); return the exit code."""
    registry = Registry.for_data(args.data)
    if args.runs_command == "list":
        if not registry.path.exists():
            print(f"no runs yet (no registry at {registry.path})")
            return 0
        runs = registry.list(limit=args.limit, status=args.status)
        current = registry.current_model()
        print(format_runs_table(runs, {run.id: registry.results(run.id).get("metrics") for run in runs},
                                in_use=None if current is None else current.id))
        return 0
    if args.runs_command == "rollback":
        if not registry.path.exists():
            raise ValueError(f"no model is in use: there is no run registry at {registry.path} (check --data)")
        registry.rollback(BY_HAND)
        print(in_use_text(registry))
        return 0
    ids = [args.a, args.b] if args.runs_command == "compare" else [args.run_id]
    if not registry.path.exists():
        raise RunNotFound(f"no run {ids[0]}: there is no run registry at {registry.path} (check --data)")
    if args.runs_command == "promote":
        registry.promote(args.run_id, args.reason.strip() or PROMOTED_BY_HAND, BY_HAND)
        print(in_use_text(registry))
    elif args.runs_command == "show":
        run = registry.get(args.run_id)
        print(format_run(run, registry.results(run.id), registry.epoch_records(run.id), last_epochs=args.epochs,
                         in_use=_in_use_id(registry)))
    elif args.runs_command == "compare":
        from pipeline.runs.comparisons import pair_settings, paired_run_deltas

        a, b = registry.get(args.a), registry.get(args.b)
        metrics_a, metrics_b = registry.results(a.id).get("metrics"), registry.results(b.id).get("metrics")
        paired = paired_run_deltas(a, b, **pair_settings(metrics_b))
        print(format_comparison(a, b, metrics_a, metrics_b, paired))
    else:
        from pipeline.runs.jobs import cancel

        print(cancel(registry, args.run_id, wait=args.wait or None))
    return 0


def _in_use_id(registry: Registry) -> int | None:
    current = registry.current_model()
    return None if current is None else current.id


def in_use_text(registry: Registry) -> str:
    """One line naming the model in use and why, e.g. "run 3 is the model in use (auto: not worse than run 2)"."""
    found = registry.model_in_use()
    if found is None:
        return "no model is in use yet"
    run, reason = found
    return f"run {run.id} is the model in use ({reason})"


# --------------------------------------------------------------------------------------------------------------
# values


def _number(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.4f}"
    return str(value)


def _seconds(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    return f"{minutes // 60}h {minutes % 60:02d}m"


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], indent: str = "") -> str:
    widths = [max(len(str(c)) for c in column) for column in zip(headers, *rows, strict=True)]
    lines = [headers, *rows]
    return "\n".join(indent + "  ".join(str(c).ljust(w) for c, w in zip(line, widths, strict=True)).rstrip()
                     for line in lines)


def _value(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


# --------------------------------------------------------------------------------------------------------------
# formatting


def format_runs_table(runs: Sequence[Run], metrics: dict[int, Any], in_use: int | None = None) -> str:
    """`runs list`: one line per run; `metrics` maps a run id to its "metrics" result (or None); the status of
    run `in_use` (the model in use) reads "succeeded (in use)"."""
    if not runs:
        return "no runs"
    headers = ["id", "status", "created (UTC)", "duration", "stage", "LF config", *(t for t, _ in KEY_METRICS)]
    rows = []
    for run in runs:
        row = run_row(run, metrics.get(run.id))
        status = f"{run.status} (in use)" if run.id == in_use else run.status
        rows.append([str(run.id), status, row["created"], _seconds(row["duration"]), row["stage"],
                     row["LF config"], *(_number(row[title]) for title, _ in KEY_METRICS)])
    return _table(headers, rows)


def format_run(run: Run, results: dict[str, Any], epochs: Sequence[dict[str, Any]], *, last_epochs: int = 5,
               in_use: int | None = None) -> str:
    """`runs show`: every field of a run, whether it is the model in use (run `in_use`) and its promotion outcome,
    its params, artifacts, metrics, last epochs, error and LF config."""
    process = f"pid {run.pid} on {run.host}" if run.pid is not None else "-"
    if run.is_active and run.heartbeat_at is not None:  # how a run on another host is judged alive or lost
        process += f", last heartbeat {run.heartbeat_age():.0f} s ago"
    fields = [
        ("status", run.status), ("created", fmt_time(run.created_at)), ("started", fmt_time(run.started_at)),
        ("finished", fmt_time(run.finished_at)), ("duration", _seconds(run.duration())),
        ("stage", run.stage_text()), ("process", process),
        ("dataset", run.dataset_fingerprint), ("LF config", run.lf_config_hash), ("note", run.note or "-"),
        ("folder", str(run.dir)), ("in use", _in_use_field(run, in_use)),
        ("promotion", promotion_outcome(results) or "-"),
    ]
    lines = [f"run {run.id}"] + [f"  {name:<11}{value}" for name, value in fields]
    params = flatten(run.params)
    lines += ["", "params:"] + ([f"  {k} = {_value(v)}" for k, v in sorted(params.items())] or ["  (none)"])
    lines += ["", "artifacts:"]
    for key in run.artifacts:
        path = run.artifact(key)
        lines.append(f"  {key:<16}{path}" + ("" if path.exists() else "  (missing)"))
    if not run.artifacts:
        lines.append("  (none)")
    lines += ["", "results: " + (", ".join(sorted(results)) or "(none)")]
    numeric = {k: v for k, v in flatten(results.get("metrics")).items() if is_number(v)}
    if numeric:
        lines += ["", "metrics:", _table(["metric", "value"], [[k, _number(v)] for k, v in numeric.items()], "  ")]
    if epochs:
        lines += ["", f"last epochs (up to {last_epochs} per model):", _epochs_table(epochs, last_epochs)]
    if run.error:
        lines += ["", "error:"] + [f"  {line}" for line in run.error.splitlines()]
    lines += ["", "LF config:"] + [f"  {line}" for line in run.lf_config_toml.splitlines()]
    return "\n".join(lines)


def _in_use_field(run: Run, in_use: int | None) -> str:
    if run.id == in_use:
        return "yes: its model is the model in use"
    return "no" + (f" (run {in_use} is)" if in_use is not None else " (no model is in use)")


def _epochs_table(epochs: Sequence[dict[str, Any]], last: int) -> str:
    by_model: dict[str, list[dict[str, Any]]] = {}
    for record in epochs:
        by_model.setdefault(record["model"], []).append(record)
    kept = [r for records in by_model.values() for r in records[-last:]]
    logs = list(dict.fromkeys(k for r in kept for k in r if k not in ("model", "epoch")))
    rows = [[r["model"], str(r["epoch"]), *(_number(r.get(k)) for k in logs)] for r in kept]
    return _table(["model", "epoch", *logs], rows, "  ")


def format_comparison(a: Run, b: Run, metrics_a: Any, metrics_b: Any, paired: Any = None) -> str:
    """`runs compare A B`: the params that differ, the LF config diff (A -> B) and every metric's delta B - A.

    `paired` (pipeline.runs.comparisons.RunPairDeltas, from both runs' per-row scores) adds each contender metric's
    95% paired-bootstrap interval, marked "not significant" where it covers 0, or the one-line reason there is
    none; contenders both runs scored identically are named."""
    cmp = compare_runs(a, b, metrics_a, metrics_b)
    lines = [f"run {a.id} ({a.status}) -> run {b.id} ({b.status})"]
    if cmp.same_dataset:
        lines.append(f"same dataset ({a.dataset_fingerprint[:12]})")
    else:
        lines.append(f"different datasets: {a.dataset_fingerprint[:12]} -> {b.dataset_fingerprint[:12]} "
                     "(metrics are not on the same rows)")

    changed = [[k, _value(va), _value(vb)] for k, va, vb in cmp.params]
    lines += ["", "params that differ:", _table(["param", f"run {a.id}", f"run {b.id}"], changed, "  ")
              if changed else "  (none)"]

    lines += ["", "LF config:"]
    if not cmp.config_diff:
        lines.append(f"  identical ({a.short_hash})")
    else:
        lines += [f"  {line}" for line in cmp.config_diff]

    lines += ["", "metrics (delta = B - A):"]
    found = paired.lookup() if paired is not None and paired.reason is None else {}
    if paired is not None:
        lines.append(f"  {paired.reason}" if paired.reason else
                     "  95% paired-bootstrap intervals over test users from both runs' per-row scores; "
                     "not significant: the interval covers 0")
        if paired.unchanged:
            lines.append(f"  scored identically by both runs: {', '.join(paired.unchanged)}")
    if cmp.metrics:
        headers = ["metric", f"run {a.id}", f"run {b.id}", "delta"] + (["95% interval", ""] if found else [])
        rows = []
        for k, va, vb, delta in cmp.metrics:
            row = [k, _number(va), _number(vb), _delta(delta)]
            if found:
                parts = k.split(".")
                hit = found.get((parts[1], parts[2])) if len(parts) == 3 and parts[0] == "contenders" else None
                row += _interval_cells(hit)
            rows.append(row)
        lines.append(_table(headers, rows, "  "))
    else:
        lines.append("  (no metric recorded in both runs)")
    return "\n".join(lines)


def _interval_cells(hit: dict[str, Any] | None) -> list[str]:
    if hit is None or hit["significant"] is None:
        return ["", ""]
    return [f"[{hit['lo']:+.4f}, {hit['hi']:+.4f}]", "" if hit["significant"] else "not significant"]


def _delta(delta: float) -> str:
    if isinstance(delta, float) and math.isnan(delta):
        return "nan"
    return f"{delta:+.4f}" if isinstance(delta, float) else f"{delta:+d}"
