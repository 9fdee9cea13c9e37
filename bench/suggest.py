"""Benchmark of LF suggestions, autotune and LF impact at seed scale (targets from the guided-LF issue).

  phrase tables      the dev split's phrase counts built from the texts (what `pipeline features` does once per
                     dataset) and read back from the cache
  first suggestions  with the tables cached, keyword hits not yet searched (a fresh server): target <= 3 s
  after an edit      suggestions again after a threshold edit, median: target <= 300 ms
  autotune           one threshold LF, median
  label-model impact 10 LFs (the seed's five and five suggested), one fit per LF plus one, in two worker
                     processes as on the LF page: target <= 30 s
Baseline in the same run: the LF analysis of the same LFs on dev (what every edit already costs the page).
Then the top 20 suggestions with their figures on dev (mined) and val (never mined).

Usage: python -m bench.suggest --data DIR [--repeat 7]   (DIR/processed with features: `make run` or
       `python -m pipeline ensure-data --data DIR && python -m pipeline features --processed DIR/processed`)
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import time
from pathlib import Path

from lfs.config import load_default
from lfs.features import features_dir
from lfs.phrases import cached_tables
from lfs.spec import TEXT_FIELDS
from lfs.suggest import SuggestContext, autotune, suggest
from lfs.workspace import open_split
from pipeline.data.dataset import load_prepared
from pipeline.training.impact import label_model_impact
from pipeline.training.labelmodel import LabelModelParams

TARGETS_S = {"first suggestions": 3.0, "after an edit": 0.3, "label-model impact": 30.0}


def timed(fn, repeat: int = 1) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args()
    prepared = load_prepared(args.data / "processed")
    specs = list(load_default().enabled())
    dev, val = open_split(prepared, "dev"), open_split(prepared, "val")
    folder, fp = features_dir(prepared), prepared.manifest.get("fingerprint")
    rows = []

    for path in folder.glob("phrases-dev-*"):
        path.unlink()
    build, _ = timed(lambda: cached_tables(dev.data, dev.gold, folder, fingerprint=fp, split="dev",
                                           fields=TEXT_FIELDS))
    dev, val = open_split(prepared, "dev"), open_split(prepared, "val")  # fresh: nothing searched or memoised
    read, _ = timed(lambda: cached_tables(dev.data, dev.gold, folder, fingerprint=fp, split="dev",
                                          fields=TEXT_FIELDS))
    baseline, _ = timed(lambda: dev.analyze(specs))
    first, found = timed(lambda: suggest(SuggestContext(dev.data, dev.gold, val.data, val.gold, specs), top=20))
    rows.append(("first suggestions", first))

    lf = "polarity_positive"
    edits = iter([0.25 + 0.01 * i for i in range(args.repeat)])

    def after_edit():
        cfg = load_default()
        edited = cfg.replace(lf, dataclasses.replace(cfg.get(lf), value=next(edits))).enabled()
        return suggest(SuggestContext(dev.data, dev.gold, val.data, val.gold, edited), top=20)

    rows.append(("after an edit", timed(after_edit, args.repeat)[0]))
    tune, point = timed(lambda: autotune(load_default().get(lf), dev.data, dev.gold), args.repeat)
    rows.append(("autotune", tune))

    ten = specs + [s.spec for s in found[:5]]
    train = open_split(prepared, "train")
    L_train, L_dev = train.matrix(ten), dev.matrix(ten)
    workers = min(2, os.cpu_count() or 1)  # as the LF page runs it
    impact, _ = timed(lambda: label_model_impact(L_train, L_dev, dev.gold, [s.name for s in ten],
                                                 LabelModelParams(), workers=workers))
    rows.append(("label-model impact", impact))

    print(f"\nSuggestions benchmark on {args.data} (dev {dev.data.n:,} rows, val {val.data.n:,}, train "
          f"{train.data.n:,}); phrase tables built in {build:.1f} s, read from the cache in {read:.2f} s")
    print(f"{'step':20} {'median s':>9} {'target s':>9}   {'baseline':18} {'median s':>9} {'ratio':>7}")
    for step, seconds in rows:
        target = TARGETS_S.get(step)
        verdict = "" if target is None else ("ok" if seconds <= target else "MISSED")
        print(f"{step:20} {seconds:9.3f} {target if target else float('nan'):9.2f}   {'LF analysis on dev':18} "
              f"{baseline:9.3f} {seconds / baseline:7.1f}  {verdict}")
    print(f"autotune of {lf}: value {point.value:g}, dev coverage {point.coverage:.2%}, accuracy {point.accuracy:.3f}")
    print(f"label-model impact: {len(ten)} LFs, {len(ten) + 1} fits in {workers} worker processes")
    print("\nTop 20 suggestions, dev (mined) vs val (never mined):")
    print(f"{'#':>2}  {'LF':48} {'label':>5} {'dev rows':>9} {'dev acc':>8} {'val rows':>9} {'val acc':>8} "
          f"{'diff':>7}")
    for i, s in enumerate(found, 1):
        what = s.spec.name
        print(f"{i:>2}  {what[:48]:48} {s.label:>5} {s.dev.rows:>9,} {s.dev.accuracy:8.3f} {s.check.rows:>9,} "
              f"{s.check.accuracy:8.3f} {s.check.accuracy - s.dev.accuracy:+7.3f}")


if __name__ == "__main__":
    main()
