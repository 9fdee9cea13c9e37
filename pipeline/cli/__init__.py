"""`python -m pipeline <command>`: the data steps from the command line.

Each subcommand is one `Subcommand` in SUBCOMMANDS: a help line, a function adding its arguments and a function
running it (which imports what it needs, so `--help` stays fast). Adding a command is one entry and two small
functions. Bad input (RawDataError, ValueError, FileNotFoundError) prints "error: <message>" to stderr and exits
with status 2, without a traceback.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from typing import Any

__all__ = ["SUBCOMMANDS", "Subcommand", "format_summary", "main"]


@dataclass(frozen=True)
class Subcommand:
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


# --------------------------------------------------------------------------------------------------------------
# prepare

_PARAM_HELP = {
    "max_interactions": "keep at most N interactions of kept books, in file order",
    "min_book_ratings": "books need at least N ratings (ratings_count)",
    "max_book_ratings": "books may have at most N ratings",
    "min_user_interactions": "users need at least N kept interactions",
    "max_user_interactions": "users may have at most N kept interactions",
    "test_frac": "share of users in the test split",
    "dev_frac": "share of users in the dev split",
    "val_frac": "share of users in the val split",
    "seed": "seed of the user split",
}


def _prepare_arguments(parser: argparse.ArgumentParser) -> None:
    from pipeline.data.prepare import PrepareParams

    parser.add_argument("--raw", default="data/raw", metavar="DIR", help="raw files folder (default: %(default)s)")
    parser.add_argument("--out", default="data/processed", metavar="DIR",
                        help="prepared data folder (default: %(default)s)")
    for f in fields(PrepareParams):
        kind = float if f.name.endswith("_frac") else int
        parser.add_argument(f"--{f.name.replace('_', '-')}", dest=f.name, type=kind, default=f.default,
                            metavar="F" if kind is float else "N", help=f"{_PARAM_HELP[f.name]} (default: %(default)s)")
    parser.add_argument("--skip-bad-lines", action="store_true",
                        help="skip (and count) malformed lines instead of stopping at the first one")
    parser.add_argument("--force", action="store_true", help="recompute even if the output is up to date")


def _prepare_run(args: argparse.Namespace) -> int:
    from pipeline.data.dataset import load_prepared, summarize
    from pipeline.data.prepare import PrepareParams, prepare

    params = PrepareParams(**{f.name: getattr(args, f.name) for f in fields(PrepareParams)})
    manifest = prepare(args.raw, args.out, params, skip_bad_lines=args.skip_bad_lines, force=args.force,
                       progress=True)
    skipped = {name: n for name, n in manifest["bad_lines"].items() if n}
    if skipped:
        print("skipped bad lines: " + ", ".join(f"{name} {n:,}" for name, n in skipped.items()))
    print(format_summary(summarize(load_prepared(args.out))))
    return 0


# --------------------------------------------------------------------------------------------------------------
# generate and ensure-data


def _scale_arguments(parser: argparse.ArgumentParser) -> None:
    from pipeline.data.generate import SCALES

    parser.add_argument("--scale", choices=list(SCALES), default="seed", help="data size (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="random seed; same seed, same bytes (default: 0)")


def _generate_arguments(parser: argparse.ArgumentParser) -> None:
    _scale_arguments(parser)
    parser.add_argument("--out", default="data/raw", metavar="DIR",
                        help="raw files folder (default: %(default)s); raw files there that the generator did not "
                             "write (real data) are never overwritten: the command stops instead")


def _generate_run(args: argparse.Namespace) -> int:
    from pipeline.data.generate import generate

    r = generate(args.out, args.scale, args.seed, progress=True)
    print(f"wrote {r.books:,} books, {r.interactions:,} interactions of {r.users:,} users and {r.reviews:,} reviews "
          f"({r.scale} scale, seed {r.seed}) to {r.out_dir} in {r.seconds:.1f} s")
    return 0


def _ensure_arguments(parser: argparse.ArgumentParser) -> None:
    _scale_arguments(parser)
    parser.add_argument("--data", default="data", metavar="DIR",
                        help="data folder with raw/ and processed/ (default: %(default)s)")


def _ensure_run(args: argparse.Namespace) -> int:
    from pipeline.data.dataset import load_prepared, summarize
    from pipeline.data.ensure import ensure_data

    ensure_data(args.data, scale=args.scale, seed=args.seed, progress=True)
    print(format_summary(summarize(load_prepared(f"{args.data}/processed"))))
    return 0


# --------------------------------------------------------------------------------------------------------------
# features, label, analyze (the LF engine)


def _engine_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--processed", default="data/processed", metavar="DIR",
                        help="prepared data folder (default: %(default)s)")
    parser.add_argument("--engine", choices=("local", "dask"), default="local",
                        help="local: this machine's cores; dask: partitions on a Dask cluster (default: local)")
    parser.add_argument("--scheduler", default="local", metavar="ADDRESS",
                        help="with --engine dask: 'local' starts a LocalCluster, or tcp://HOST:8786 of a running "
                             "scheduler (default: local)")


def _features_arguments(parser: argparse.ArgumentParser) -> None:
    _engine_arguments(parser)
    parser.add_argument("--split", default="all", help="train, dev, val, test or all (default: all)")
    parser.add_argument("--processes", type=int, default=None, metavar="N",
                        help="TextBlob worker processes with the local engine (default: all cores)")


def _features_run(args: argparse.Namespace) -> int:
    import time

    from lfs.features import load_all_features
    from pipeline.data.dataset import load_prepared

    data = load_prepared(args.processed)
    splits = list(data.splits) if args.split == "all" else [args.split]
    started = time.perf_counter()
    if args.engine == "dask":
        from lfs.dask_engine import features_on_dask

        frames = features_on_dask(data, splits, scheduler=args.scheduler)
    else:
        frames = load_all_features(data, splits, processes=args.processes, progress=True)
    for split, frame in frames.items():
        print(f"{split:<6}{len(frame):>10,} rows  " + "  ".join(
            f"{c} {frame[c].notna().mean():.0%}" for c in ("polarity", "same_author_count")) + " present")
    if args.engine != "dask" and {"dev", "val"} <= set(splits):  # the phrase counts suggestions are mined from
        from lfs.suggest import open_context

        open_context(data, [])
    print(f"features ready in {time.perf_counter() - started:.1f} s")
    return 0


def _config_arguments(parser: argparse.ArgumentParser, split_default: str) -> None:
    _engine_arguments(parser)
    parser.add_argument("--config", default=None, metavar="FILE",
                        help="LF config (TOML; default: the seed's five LFs in lfs/default.toml)")
    parser.add_argument("--split", default=split_default, help=f"split (default: {split_default})")


def _specs_and_split(args: argparse.Namespace):
    import pandas as pd

    from lfs.config import load_config, load_default
    from lfs.workspace import check_split, open_split
    from pipeline.data.dataset import load_prepared

    config = load_config(args.config) if args.config else load_default()
    specs = config.enabled()
    data = load_prepared(args.processed)
    if args.engine == "dask":
        from lfs.dask_engine import label_matrix_on_dask
        from lfs.features import FEATURE_COLUMNS

        check_split(data, args.split)
        L = label_matrix_on_dask(data, args.split, specs, scheduler=args.scheduler)
        # the workers computed the features; the local view only needs rows and gold (no features are read)
        rows = data.splits[args.split]
        empty = pd.DataFrame(index=rows.index, columns=list(FEATURE_COLUMNS), dtype=float)
        return specs, open_split(data, args.split, features=empty), L
    split = open_split(data, args.split, progress=True)
    return specs, split, split.matrix(specs)


def _label_arguments(parser: argparse.ArgumentParser) -> None:
    _config_arguments(parser, "train")
    parser.add_argument("--out", required=True, metavar="FILE.parquet",
                        help="where to write user_idx, book_idx and one column per LF")


def _label_run(args: argparse.Namespace) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from lfs.workspace import label_frame

    specs, split, L = _specs_and_split(args)
    frame = label_frame(split, specs, L)
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), args.out)
    covered = (L != -1).any(axis=1).mean() if len(L) else 0.0
    print(f"wrote {len(frame):,} rows x {len(specs)} LFs of {args.split} to {args.out} (coverage {covered:.1%})")
    return 0


def _analyze_arguments(parser: argparse.ArgumentParser) -> None:
    _config_arguments(parser, "dev")


def _analyze_run(args: argparse.Namespace) -> int:
    from lfs.analysis import analyze

    specs, split, L = _specs_and_split(args)
    result = analyze(L, specs, split.gold)
    print(result.summary.to_string(float_format=lambda v: f"{v:.4f}"))
    t = result.totals
    line = (f"\n{args.split}: {t['rows']:,} rows; coverage {t['coverage']:.2%}, overlaps {t['overlap_rate']:.2%}, "
            f"conflicts {t['conflict_rate']:.2%}; majority vote covers {t['mv_coverage']:.2%}")
    if "mv_accuracy" in t:
        line += f" with accuracy {t['mv_accuracy']:.3f} on {t['mv_labelled']:,} labelled rows"
    print(line)
    return 0


# --------------------------------------------------------------------------------------------------------------
# summary


def _summary_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--processed", default="data/processed", metavar="DIR",
                        help="prepared data folder (default: %(default)s)")


def _summary_run(args: argparse.Namespace) -> int:
    from pipeline.data.dataset import load_prepared, summarize

    print(format_summary(summarize(load_prepared(args.processed))))
    return 0


def format_summary(summary: dict[str, Any]) -> str:
    """The dataset summary of pipeline.data.dataset.summarize as a small text table."""

    def share(x: float | None) -> str:
        return "-" if x is None else f"{x:.1%}"

    source = summary["source"] or "?"
    if summary.get("generator"):
        source += f" (scale {summary['generator']['scale']}, seed {summary['generator']['seed']})"
    lines = [
        f"{'source':<16}{source}",
        f"{'books':<16}{summary['books']:,}",
        f"{'authors':<16}{summary['authors']:,}",
        f"{'users':<16}{summary['users']:,}",
        f"{'labelled rows':<16}{summary['labelled_rows']:,}",
        f"{'positive share':<16}{share(summary['positive_share'])} (dev, val, test)",
        f"{'review share':<16}{share(summary['review_share'])} of labelled rows have a review",
        "",
        f"{'split':<8}{'users':>10}{'rows':>12}",
    ]
    lines += [f"{split:<8}{summary['users_per_split'][split]:>10,}{rows:>12,}"
              for split, rows in summary["rows"].items()]
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------------------------

def _lazy(module: str, name: str) -> Callable:
    """A function of another module, imported when called (keeps `--help` and the other verbs light)."""

    def call(*args, **kwargs):
        import importlib

        return getattr(importlib.import_module(module), name)(*args, **kwargs)

    return call


SUBCOMMANDS: dict[str, Subcommand] = {
    "generate": Subcommand("write synthetic Goodreads raw files in the real format", _generate_arguments,
                           _generate_run),
    "prepare": Subcommand("raw files -> prepared parquet folder (books, users, train/dev/val/test)",
                          _prepare_arguments, _prepare_run),
    "ensure-data": Subcommand("generate raw files when none are there (real files are kept, never overwritten), "
                              "then prepare",
                              _ensure_arguments, _ensure_run),
    "features": Subcommand("compute the per-row LF features once (TextBlob, same-author counts, ...) and cache them",
                           _features_arguments, _features_run),
    "label": Subcommand("apply an LF config to a split and write the label matrix (parquet)", _label_arguments,
                        _label_run),
    "analyze": Subcommand("apply an LF config and print snorkel's LF summary with intervals and totals",
                          _analyze_arguments, _analyze_run),
    "impact": Subcommand("what removing each enabled LF does to majority vote (and, with --label-model, to the "
                         "label model) on dev", _lazy("pipeline.cli.impact", "add_impact_arguments"),
                         _lazy("pipeline.cli.impact", "run_impact")),
    "retrain": Subcommand("one-click retrain: LFs -> label model -> end model -> test metrics beside baselines",
                          _lazy("pipeline.cli.retrain", "add_retrain_arguments"),
                          _lazy("pipeline.cli.retrain", "run_retrain")),
    "runs": Subcommand("list, show, compare or cancel retrain runs", _lazy("pipeline.cli.runs", "add_runs_arguments"),
                       _lazy("pipeline.cli.runs", "run_runs")),
    "study": Subcommand("impact study: retrain without each enabled LF in turn and compare with all LFs",
                        _lazy("pipeline.cli.study", "add_study_arguments"), _lazy("pipeline.cli.study", "run_study")),
    "recommend": Subcommand("top-k books for a user from the current model",
                            _lazy("pipeline.cli.retrain", "add_recommend_arguments"),
                            _lazy("pipeline.cli.retrain", "run_recommend")),
    "suggest": Subcommand("keyword and threshold LFs to add, mined on dev and checked on val, best first",
                          _lazy("pipeline.cli.suggest", "add_suggest_arguments"),
                          _lazy("pipeline.cli.suggest", "run_suggest")),
    "autotune": Subcommand("the value of a threshold LF that best meets an objective on dev",
                           _lazy("pipeline.cli.suggest", "add_autotune_arguments"),
                           _lazy("pipeline.cli.suggest", "run_autotune")),
    "summary": Subcommand("print what a prepared dataset holds", _summary_arguments, _summary_run),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m pipeline", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, command in SUBCOMMANDS.items():
        command.add_arguments(sub.add_parser(name, help=command.help, description=command.help))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one subcommand; return the exit code (0 ok, 2 bad input or usage, 130 interrupted)."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    try:
        return SUBCOMMANDS[args.command].run(args)
    except (ValueError, KeyError, FileNotFoundError) as e:  # RawDataError and LFSpecError are ValueErrors
        message = e.args[0] if isinstance(e, KeyError) and e.args else e  # KeyError's str() adds quotes
        print(f"error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
