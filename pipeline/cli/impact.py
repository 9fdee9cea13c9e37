"""`python -m pipeline impact`: what removing each enabled LF does, to majority vote on dev and (with
`--label-model`) to the label model fitted on train and scored on dev (lfs.impact). Only dev's gold is read."""

from __future__ import annotations

import argparse
import json
import os
import sys

from pipeline.cli import _engine_arguments, _specs_and_split

__all__ = ["add_impact_arguments", "run_impact"]


def add_impact_arguments(parser: argparse.ArgumentParser) -> None:
    from pipeline.runs.settings import LABEL_MODEL_FLAGS

    _engine_arguments(parser)  # _config_arguments without --split: impact always reads dev's gold, never test's
    parser.add_argument("--config", default=None, metavar="FILE",
                        help="LF config (TOML; default: the seed's five LFs in lfs/default.toml)")
    parser.add_argument("--label-model", action="store_true",
                        help="also fit the label model on train with all LFs and without each (one fit per LF "
                             "plus one) and score each on dev")
    for flag, (_, kind, text) in LABEL_MODEL_FLAGS.items():
        parser.add_argument(flag, type=kind, default=None, help=f"with --label-model: {text}")
    parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1), metavar="N",
                        help="with --label-model: fit in N worker processes (default: %(default)s)")
    parser.add_argument("--json", action="store_true",
                        help='print {"majority_vote": [rows], "label_model": [rows]} as JSON (NaN: null)')


def _signed(value: float) -> str:
    return "-" if value != value else f"{value:+.4f}"


def _plain(value: float) -> str:
    return "-" if value != value else f"{value:.4f}"


def _impact_table(frame, columns: list[str]) -> str:
    formatters = {c: _signed if c.startswith("d_") else _plain for c in columns
                  if c != "lf" and frame[c].dtype.kind == "f"}
    width = max(len(str(name)) for name in frame["lf"])
    formatters["lf"] = lambda name: str(name).ljust(width)  # names read best left-aligned
    return frame[columns].to_string(index=False, formatters=formatters)


def run_impact(args: argparse.Namespace) -> int:
    from lfs.impact import as_records, mv_impact
    from pipeline.cli.retrain import flag_overrides
    from pipeline.runs.settings import LABEL_MODEL_FLAGS, check_label_model
    from pipeline.training.impact import label_model_impact

    # checked before any data is read: a bad flag is refused at once, naming the flag
    overrides, params = flag_overrides(args, LABEL_MODEL_FLAGS), None
    if args.label_model:
        from pipeline.training.labelmodel import LabelModelParams

        check_label_model(overrides)
        params = LabelModelParams(**overrides)
    elif overrides:
        flag = next(f for f, (field, _, _) in LABEL_MODEL_FLAGS.items() if field in overrides)
        raise ValueError(f"{flag} sets the label model: add --label-model")
    args.split = "dev"
    specs, split, L_dev = _specs_and_split(args)
    names = [s.name for s in specs]
    mv = mv_impact(L_dev, names, split.gold)
    lm = None
    if params is not None:
        from tqdm import tqdm

        _, _, L_train = _specs_and_split(argparse.Namespace(**{**vars(args), "split": "train"}))
        with tqdm(total=len(names) + 1, desc="label model fits", file=sys.stderr) as bar:
            def progress(done: int, total: int, message: str) -> None:
                bar.n = done
                bar.set_postfix_str(message)

            lm = label_model_impact(L_train, L_dev, split.gold, names, params, progress=progress,
                                    workers=max(1, args.workers))
    if args.json:
        out = {"majority_vote": as_records(mv)}
        if lm is not None:
            out["label_model"] = as_records(lm)
        print(json.dumps(out, indent=2, allow_nan=False))
        return 0
    if not names:
        print("no enabled LFs: nothing to remove")
        return 0
    t = mv.iloc[0]
    print(f"majority vote with all {len(names)} LFs on dev: LFs cover {t['coverage']:.2%}, majority vote decides "
          f"{t['mv_coverage']:.2%} with accuracy {_plain(t['mv_accuracy'])} on {t['mv_labelled']:,} labelled rows")
    print("without each LF (d_: without - with):")
    print(_impact_table(mv, ["lf", "coverage_without", "d_coverage", "mv_coverage_without", "d_mv_coverage",
                             "mv_labelled_without", "mv_accuracy_without", "d_mv_accuracy"]))
    if lm is not None:
        t = lm.iloc[0]
        print(f"\nlabel model with all {len(names)} LFs (fitted on train) on dev: accuracy {_plain(t['accuracy'])}, "
              f"F1 {_plain(t['f1'])}, coverage {t['coverage']:.2%}")
        print("without each LF (d_: without - with):")
        print(_impact_table(lm, ["lf", "model_without", "accuracy_without", "d_accuracy", "f1_without", "d_f1",
                                 "coverage_without", "d_coverage"]))
        if (lm["model_without"] == "majority_vote").any() or t["model"] == "majority_vote":
            from pipeline.training.labelmodel import MIN_LABEL_MODEL_LFS

            print(f"(majority_vote: with fewer than {MIN_LABEL_MODEL_LFS} LFs snorkel's LabelModel cannot be "
                  f"fitted, so its majority vote stands in)")
    return 0
