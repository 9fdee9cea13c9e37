"""`python -m pipeline suggest` and `python -m pipeline autotune`: LF suggestions and threshold autotune.

Both mine or tune on the dev split and check on val (lfs.suggest); the test split's gold is never read. With
`--json`, `suggest` prints a list of objects (template, label, keyword/field/match or feature/op/value, name,
dev and check {rows, coverage, accuracy}, adds, lift, score) and `autotune` one object.
"""

from __future__ import annotations

import argparse
import dataclasses
import json

__all__ = ["add_autotune_arguments", "add_suggest_arguments", "run_autotune", "run_suggest"]


def _share(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text} is not a share between 0 and 1")
    return value


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not a positive count")
    return value


def _common(parser: argparse.ArgumentParser) -> None:
    from lfs.suggest import MIN_ACCURACY, MIN_COVERAGE, OBJECTIVES

    parser.add_argument("--processed", default="data/processed", metavar="DIR",
                        help="prepared data folder (default: %(default)s)")
    parser.add_argument("--config", default=None, metavar="FILE",
                        help="LF config (TOML; default: the seed's five LFs in lfs/default.toml)")
    parser.add_argument("--objective", choices=OBJECTIVES, default="accuracy",
                        help="thresholds: highest accuracy at coverage >= --min-coverage, or highest coverage at "
                             "accuracy >= --min-accuracy (default: %(default)s)")
    parser.add_argument("--min-coverage", type=_share, default=MIN_COVERAGE, metavar="C",
                        help="objective accuracy: the least share of dev rows to vote on (default: %(default)s)")
    parser.add_argument("--min-accuracy", type=_share, default=MIN_ACCURACY, metavar="A",
                        help="objective coverage: the least accuracy on dev (default: %(default)s)")
    parser.add_argument("--json", action="store_true", help="print JSON")


def add_suggest_arguments(parser: argparse.ArgumentParser) -> None:
    from lfs.spec import TEXT_FIELDS
    from lfs.suggest import MIN_LIFT

    _common(parser)
    parser.add_argument("--top", type=_positive, default=10, metavar="N", help="how many (default: %(default)s)")
    parser.add_argument("--min-lift", type=_share, default=MIN_LIFT, metavar="L",
                        help="hide suggestions whose accuracy (lower bound) lies less than this far above voting "
                             "their label on every row, on a 0..1 scale (default: %(default)s)")
    parser.add_argument("--min-check-accuracy", type=_share, default=0.0, metavar="A",
                        help="hide suggestions whose accuracy on val is below A (default: %(default)s)")
    parser.add_argument("--fields", nargs="+", choices=TEXT_FIELDS, default=list(TEXT_FIELDS),
                        help="text fields to mine (default: all)")


def add_autotune_arguments(parser: argparse.ArgumentParser) -> None:
    _common(parser)
    parser.add_argument("--lf", required=True, metavar="NAME", help="the threshold LF to tune")


def _load(args: argparse.Namespace):
    from lfs.config import load_config, load_default
    from pipeline.data.dataset import load_prepared

    config = load_config(args.config) if args.config else load_default()
    return config, load_prepared(args.processed)


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def format_suggestions(rows: list[dict]) -> str:
    if not rows:
        return "no suggestion passes the limits; lower --min-lift or --min-check-accuracy"
    lines = [f"{'#':>2}  {'LF to add':<44} {'label':>5}  {'dev rows':>8} {'cov':>6} {'acc':>6}  "
             f"{'val rows':>8} {'acc':>6}  {'adds':>6} {'lift':>5}"]
    for i, r in enumerate(rows, 1):
        what = (f"{r['field']} has \"{r['keyword']}\"" if r["template"] == "keyword"
                else f"{r['feature']} {r['op']} {r['value']:g}")
        dev, check = r["dev"], r["check"]
        lines.append(f"{i:>2}  {what[:44]:<44} {r['label']:>5}  {dev['rows']:>8,} {_percent(dev['coverage']):>6} "
                     f"{_percent(dev['accuracy']):>6}  {check['rows']:>8,} {_percent(check['accuracy']):>6}  "
                     f"{r['adds']:>6,} {r['lift']:>5.2f}")
    return "\n".join(lines)


def run_suggest(args: argparse.Namespace) -> int:
    from lfs.suggest import open_context, suggest

    config, prepared = _load(args)
    ctx = open_context(prepared, config.enabled(), fields=args.fields, min_lift=args.min_lift,
                       min_check_accuracy=args.min_check_accuracy)
    found = suggest(ctx, top=args.top, objective=args.objective, min_coverage=args.min_coverage,
                    min_accuracy=args.min_accuracy, fields=args.fields)
    rows = [s.to_dict() for s in found]
    print(json.dumps(rows, indent=2) if args.json else format_suggestions(rows))
    return 0


def run_autotune(args: argparse.Namespace) -> int:
    from lfs.suggest import autotune, figures
    from lfs.workspace import open_split

    config, prepared = _load(args)
    if args.lf not in config.names:
        raise ValueError(f"no LF named {args.lf!r} in the config; its LFs: {', '.join(config.names)}")
    spec = config.get(args.lf)
    dev = open_split(prepared, "dev")
    point = autotune(spec, dev.data, dev.gold, objective=args.objective, min_coverage=args.min_coverage,
                     min_accuracy=args.min_accuracy)
    val = open_split(prepared, "val")
    tuned = dataclasses.replace(spec, value=point.value)
    check = figures(val.data.column(tuned), val.gold)
    if args.json:
        print(json.dumps({"lf": spec.name, "feature": spec.feature, "op": spec.op, "label": spec.label,
                          "value": point.value, "previous": spec.value, "objective": args.objective,
                          "dev": {"rows": point.rows, "coverage": point.coverage, "accuracy": point.accuracy},
                          "check": check.to_dict()}, indent=2))
    else:
        print(f"{spec.name}: {spec.feature} {spec.op} {point.value:g} (was {spec.value:g}); dev: coverage "
              f"{point.coverage:.1%}, accuracy {point.accuracy:.3f} on {point.rows:,} rows; val: accuracy "
              f"{_percent(check.to_dict()['accuracy'])} on {check.rows:,} rows")
    return 0
