"""`python -m pipeline study start|show|list|cancel`: impact studies (pipeline.runs.study) from the command line.

`start` takes retrain's flags (the same params for every run of the study), starts the study's driver process and,
without --detach, follows it until it ends (Ctrl-C cancels it) and prints the table. `run` is that driver process
itself. Bad input (fewer than 2 enabled LFs, an unknown study) raises a ValueError, which the CLI prints as
"error: ..." with exit status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from pipeline.runs import study
from pipeline.runs.comparisons import SIGNIFICANT, interval_text
from pipeline.runs.registry import Group, GroupNotFound, Registry
from pipeline.runs.summary import fmt_time

__all__ = ["add_study_arguments", "format_study", "run_study"]


def add_study_arguments(parser: argparse.ArgumentParser) -> None:
    from pipeline.cli.retrain import add_retrain_arguments

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--data", default="data", metavar="DIR",
                        help="data folder whose runs/ holds the registry (default: %(default)s)")
    actions = parser.add_subparsers(dest="study_command", required=True, metavar="ACTION")
    p = actions.add_parser("start", conflict_handler="resolve",
                           help="retrain with all enabled LFs, then without each one in turn, one run after another")
    add_retrain_arguments(p)  # the retrain flags; the params are the same for every run
    p.add_argument("--json", action="store_true", help="print the final table as JSON")
    p.add_argument("--detach", action="store_true", help="start the study and return its id")
    p = actions.add_parser("show", parents=[common], help="each run of a study with its metrics and deltas")
    p.add_argument("group_id", type=int, metavar="G")
    p.add_argument("--json", action="store_true", help="print the table as JSON")
    actions.add_parser("list", parents=[common], help="every impact study, newest first")
    p = actions.add_parser("cancel", parents=[common], help="cancel a study's active run and start no further one")
    p.add_argument("group_id", type=int, metavar="G")
    p.add_argument("--wait", type=float, default=10.0, metavar="SECONDS",
                   help="wait up to this long for its run to stop; 0 returns at once (default: 10)")
    p = actions.add_parser("run", parents=[common], help="internal: the driver process `study start` launches")
    p.add_argument("--group", type=int, required=True, metavar="G")


def run_study(args: argparse.Namespace) -> int:
    """Run the action chosen in `args`; return the exit code."""
    registry = Registry.for_data(args.data)
    action = args.study_command
    if action == "start":
        return _start(args, registry)
    if action == "run":
        return study.drive(args.data, args.group, registry=registry)
    if action == "list":
        groups = [g for g in registry.groups() if g.kind == study.KIND] if registry.path.exists() else []
        print("\n".join(f"{study.describe(registry, g)} · created {fmt_time(g.created_at)} UTC"
                        + (f" · {g.note}" if g.note else "") for g in groups)
              or "no impact studies yet")
        return 0
    group = _group(registry, args.group_id)
    if action == "cancel":
        print(study.cancel(registry, group.id, wait=args.wait or None))
        return 0
    print(_show(registry, group, as_json=args.json))
    return 0


def _group(registry: Registry, group_id: int) -> Group:
    hint = "; `python -m pipeline study list` lists them"
    if not registry.path.exists():
        raise ValueError(f"no impact study {group_id}: there is no run registry at {registry.path} (check --data)")
    try:
        group = registry.group(group_id)
    except GroupNotFound:
        raise ValueError(f"no impact study {group_id} in {registry.path}{hint}") from None
    if group.kind != study.KIND:
        raise ValueError(f"run group {group_id} is a {group.kind}, not an {study.KIND}{hint}")
    return group


def _start(args: argparse.Namespace, registry: Registry) -> int:
    from lfs.config import load_config, load_default
    from pipeline.cli.retrain import retrain_params
    from pipeline.data.dataset import load_prepared

    if args.run_id is not None:
        raise ValueError("--run-id belongs to a retrain job, not to `study start`")
    config = load_config(args.config) if args.config else load_default()
    runs = len(study.plan(config))  # at least 2 enabled LFs, checked before anything else
    params = retrain_params(args)
    data = Path(args.data)
    manifest = load_prepared(data / "processed").manifest
    group_id = study.start(data, config, params.to_dict(), dataset_fingerprint=manifest["fingerprint"],
                           note=args.note, registry=registry)
    if args.detach:
        print(group_id)
        return 0
    print(f"{study.KIND} {group_id} started: {runs} runs, one after another (log: "
          f"{study.log_path(registry, group_id)}); Ctrl-C cancels it", file=sys.stderr)
    return follow(registry, group_id, as_json=args.json)


def follow(registry: Registry, group_id: int, *, as_json: bool = False, poll: float = 0.5) -> int:
    """Print a line whenever a run of the study starts, changes stage or ends, until the study ends; then its
    table. Ctrl-C cancels the study. 0 when it succeeded, else 1."""
    seen = None
    try:
        while True:
            group = registry.group(group_id)
            state = (group.status, [(r.id, r.status, r.stage) for r in registry.group_runs(group_id)])
            if state != seen:
                seen = state
                print(study.describe(registry, group), file=sys.stderr)
            if not group.is_active:
                break
            time.sleep(poll)
    except KeyboardInterrupt:
        print("\n" + study.cancel(registry, group_id, wait=30), file=sys.stderr)
        group = registry.group(group_id)
    print(_show(registry, group, as_json=as_json))
    return 0 if group.status == "succeeded" else 1


def _show(registry: Registry, group: Group, *, as_json: bool) -> str:
    rows = study.study_rows(registry, group.id)
    if as_json:
        fields = ("id", "kind", "status", "created_at", "finished_at", "note", "error")
        return json.dumps({"group": {k: getattr(group, k) for k in fields}, "runs": rows}, indent=2)
    return format_study(registry, group, rows)


def format_study(registry: Registry, group: Group, rows: list[dict]) -> str:
    """`study show`: where the study is; each run's metrics; each "without" run's deltas to all LFs with their
    95% intervals, marked "not significant" where the interval covers 0."""
    frame = study.study_frame(rows)[["LFs", "run", "status", *study.METRICS.values()]]
    for title in study.METRICS.values():
        frame[title] = [_number(v) for v in frame[title]]
    frame["run"] = [_number(v, "d") for v in frame["run"]]
    lines = [study.describe(registry, group), f"created {fmt_time(group.created_at)} UTC"
             + (f" · note: {group.note}" if group.note else ""), "",
             _table(list(frame.columns), frame.astype(str).values.tolist(), indent="")]
    deltas = [[row["label"], study.METRICS[m], f"{d['delta']:+.4f}", interval_text(d["lo"], d["hi"], signed=True),
               "" if d["verdict"] == SIGNIFICANT else d["verdict"]]
              for row in rows for m, d in row["deltas"].items()]
    if deltas:
        lines += ["", f"delta = without the LF - {study.ALL_LFS} (negative: the model does worse without it, so the "
                      "LF helps)", "  95% paired-bootstrap intervals over test users from both runs' per-row scores; "
                                   "not significant: the interval covers 0",
                  _table(["LFs", "metric", "delta", "95% interval", ""], _blank_repeats(deltas))]
    lines += [f"  {row['label']}: {row['interval_note']}" for row in rows if row["interval_note"]]
    if group.error and "\n" in group.error:
        lines += ["", "why it stopped:"] + [f"  {line}" for line in group.error.splitlines()]
    return "\n".join(lines)


def _number(value, spec: str = ".4f") -> str:
    return "-" if value is None or value != value else format(int(value) if spec == "d" else value, spec)


def _blank_repeats(rows: list[list[str]]) -> list[list[str]]:
    """The first column only where it changes (one block per run)."""
    return [["" if i and row[0] == rows[i - 1][0] else row[0], *row[1:]] for i, row in enumerate(rows)]


def _table(headers: list[str], rows: list[list[str]], indent: str = "  ") -> str:
    widths = [max(len(c) for c in column) for column in zip(headers, *rows, strict=True)]
    return "\n".join(indent + "  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip()
                     for line in [headers, *rows])
