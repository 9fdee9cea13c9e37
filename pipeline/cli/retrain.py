"""`python -m pipeline retrain` and `python -m pipeline recommend`.

retrain starts the job as its own OS process (pipeline.runs.jobs), then follows it in the registry with a progress bar
per stage and prints the metrics table; Ctrl-C while following cancels the job. `--detach` returns at once with the
run id. The job process itself is the same verb with the internal `--run-id`.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from pipeline.runs.settings import (
    END_MODEL_FLAGS,
    LABEL_MODEL_FLAGS,
    build_params,
    check_label_model,
    check_replica,
    layer_sizes,
)


def add_retrain_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", default="data", metavar="DIR", help="data folder with processed/ (default: data)")
    parser.add_argument("--config", default=None, metavar="FILE",
                        help="LF config (TOML; default: the seed's five LFs in lfs/default.toml)")
    for flag, (_, kind, text) in {**LABEL_MODEL_FLAGS, **END_MODEL_FLAGS}.items():
        parser.add_argument(flag, type=kind, default=None, help=text,
                            metavar="SIZES" if kind is layer_sizes else None)
    parser.add_argument("--soft-labels", action="store_true", help="train on label-model probabilities")
    parser.add_argument("--replica-steps", type=int, default=None, metavar="N",
                        help="seed replica: steps per epoch (default: the tutorial's 300)")
    parser.add_argument("--replica-epochs", type=int, default=None, metavar="N",
                        help="seed replica: epochs (default: the seed's 30)")
    parser.add_argument("--eval-seed", type=int, default=0, help="seed of negatives and ranking samples")
    parser.add_argument("--note", default="", help="a note stored with the run")
    parser.add_argument("--no-auto-promote", dest="auto_promote", action="store_false",
                        help="keep the model in use even if this run is not worse (promote it later with "
                             "`runs promote`)")
    parser.add_argument("--json", action="store_true", help="print the final metrics as JSON")
    parser.add_argument("--detach", action="store_true", help="start the job and return its run id")
    parser.add_argument("--run-id", type=int, default=None, help=argparse.SUPPRESS)  # the job process itself


def retrain_params(args: argparse.Namespace):
    """RetrainParams from the parsed flags (only the flags given are recorded); a bad value is a ValueError naming
    its flag, raised before any job starts."""
    label_model = flag_overrides(args, LABEL_MODEL_FLAGS)
    check_label_model(label_model)  # to name the flag; build_params names only the field (the Train page's words)
    params = build_params(label_model=label_model, end_model=flag_overrides(args, END_MODEL_FLAGS),
                          soft_labels=args.soft_labels, replica_steps=args.replica_steps,
                          replica_epochs=args.replica_epochs, eval_seed=args.eval_seed,
                          auto_promote=getattr(args, "auto_promote", True))
    check_replica(params.replica)  # else a bad --replica-steps would fail only in the job, minutes later
    return params


def flag_overrides(args: argparse.Namespace, flags: dict) -> dict:
    """{field: value} of the `flags` given (not None) in `args`."""
    values = {field: getattr(args, flag[2:].replace("-", "_")) for flag, (field, _, _) in flags.items()}
    return {k: v for k, v in values.items() if v is not None}


def run_retrain(args: argparse.Namespace) -> int:
    from lfs.config import dumps_config, load_config, load_default
    from pipeline.data.dataset import load_prepared
    from pipeline.runs import jobs
    from pipeline.runs.registry import Registry

    data = Path(args.data)
    registry = Registry.for_data(data)
    if args.run_id is not None:
        return _job(registry, data, args.run_id)
    config = load_config(args.config) if args.config else load_default()
    params = retrain_params(args)
    manifest = load_prepared(data / "processed").manifest
    run_id = jobs.start(data, dataset_fingerprint=manifest["fingerprint"], lf_config_toml=dumps_config(config),
                        lf_config_hash=config.key, params=params.to_dict(), note=args.note)
    if args.detach:
        print(run_id)
        return 0
    print(f"run {run_id} started (log: {registry.runs_dir(run_id) / 'job.log'}); Ctrl-C cancels it", file=sys.stderr)
    return follow(registry, run_id, as_json=args.json)


def _job(registry, data: Path, run_id: int) -> int:
    from lfs.config import parse_config
    from pipeline.data.dataset import load_prepared
    from pipeline.runs import jobs
    from pipeline.runs.retrain import RetrainParams, retrain

    run = registry.get(run_id)
    config = parse_config(run.lf_config_toml, source=f"run {run_id}")
    params = RetrainParams.from_dict(run.params)

    def work(handle):
        prepared = load_prepared(data / "processed")
        if prepared.manifest["fingerprint"] != run.dataset_fingerprint:
            raise ValueError("the prepared data changed since this run was started; start a new retrain")
        return retrain(handle, prepared, config, params)

    return jobs.run_job(registry, run_id, work)


def follow(registry, run_id: int, *, as_json: bool = False, poll: float = 0.5) -> int:
    """Show the run's stages with a progress bar until it ends; print its metrics; Ctrl-C cancels it."""
    from tqdm import tqdm

    from pipeline.runs import jobs

    bar, stage = None, None
    try:
        while True:
            run = registry.get(run_id)
            if run.stage != stage and run.stage:
                if bar is not None:
                    bar.close()
                stage = run.stage
                bar = tqdm(total=100, desc=f"{stage:>13}", file=sys.stderr,
                           bar_format="{desc} {bar} {n:.0f}% {postfix}")
            if bar is not None:
                bar.n = round(100 * (run.progress or 0.0))
                bar.set_postfix_str(run.stage_detail or "")
            if run.is_finished:
                break
            time.sleep(poll)
    except KeyboardInterrupt:
        print("\n" + jobs.cancel(registry, run_id, wait=30), file=sys.stderr)
        run = registry.get(run_id)
    finally:
        if bar is not None:
            bar.close()
    if run.status != "succeeded":
        print(f"run {run_id} {run.status}" + (f":\n{run.error}" if run.error else ""), file=sys.stderr)
        return 1
    metrics = registry.results(run_id).get("metrics", {})
    print(json.dumps(metrics, indent=2) if as_json else format_metrics(metrics))
    return 0


METRIC_COLUMNS = ("accuracy", "precision", "recall", "f1", "roc_auc", "log_loss", "hr@10", "ndcg@10")


def format_metrics(metrics: dict) -> str:
    """Contenders (rows) x metrics; then our model's delta to each contender and to the previous run's model
    with its 95% interval, marked "not significant" where the interval covers 0 (pipeline.runs.comparisons); then
    the seconds per stage."""
    from pipeline.runs.comparisons import bootstrap_note, delta_frame, has_intervals, ordered_contenders

    contenders = metrics.get("contenders", {})
    if not contenders:
        return "(no metrics)"
    lines = [f"{'':14}" + "".join(f"{k:>10}" for k in METRIC_COLUMNS)]
    for name in ordered_contenders(contenders):
        row = contenders[name]
        cells = [f"{'-':>10}" if not _finite(row.get(k)) else f"{row[k]:>10.4f}" for k in METRIC_COLUMNS]
        extra = f"  (on the {row['coverage']:.1%} of test rows some LF votes on)" if "coverage" in row else ""
        lines.append(f"{name:14}" + "".join(cells) + extra)
    deltas = delta_frame(metrics)
    if len(deltas):
        lines += ["", "our model's delta to each contender: ours - other (positive: ours ahead)",
                  f"  {bootstrap_note(metrics)}"]
        with_interval = has_intervals(metrics)
        header = ["against", "metric", "delta"] + (["95% interval", ""] if with_interval else [])
        rows, last = [], None
        for r in deltas.itertuples(index=False):
            against = r.name.removesuffix(" (our model)") if r.key == "previous" else r.key
            cells = ["" if against == last else against, r.metric, f"{r.delta:+.4f}"]
            last = against
            if with_interval:
                span = f"[{r.lo:+.4f}, {r.hi:+.4f}]" if r.significant is not None else "-"
                cells += [span, "" if r.verdict == "significant" else r.verdict]
            rows.append(cells)
        lines.append(_table(header, rows))
    if metrics.get("stage_seconds"):
        stages = metrics["stage_seconds"]
        lines.append("")
        lines.append("seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in stages.items())
                     + f"; total {sum(stages.values()):.1f}")
    return "\n".join(lines)


def _finite(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value == value


def _table(headers: list[str], rows: list[list[str]], indent: str = "  ") -> str:
    widths = [max(len(c) for c in column) for column in zip(headers, *rows, strict=True)]
    return "\n".join(indent + "  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip()
                     for line in [headers, *rows])


def add_recommend_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", default="data", metavar="DIR", help="data folder (default: data)")
    parser.add_argument("--user", required=True, help="user_idx (a number) or Goodreads user_id (32 hex digits)")
    parser.add_argument("-k", type=int, default=10, help="how many books (default: 10)")
    parser.add_argument("--run", type=int, default=None, help="use this run's model (default: the current model)")


def run_recommend(args: argparse.Namespace) -> int:
    from pipeline.data.dataset import load_prepared
    from pipeline.runs.recommend import recommend
    from pipeline.runs.registry import Registry

    prepared = load_prepared(Path(args.data) / "processed")
    registry = Registry.for_data(args.data)
    table = recommend(prepared, registry, args.user, k=args.k, run_id=args.run)
    print(recommend_text(table))
    return 0


def recommend_text(table) -> str:
    """A top-k table (pipeline.runs.recommend) as printed: rank, book_idx, title, author (the name), author_id
    (Goodreads' id, to look the author up), score."""
    shown = table.rename(columns={"first_author_name": "author", "first_author": "author_id"})
    return shown[["rank", "book_idx", "title", "author", "author_id", "score"]].to_string(index=False)
