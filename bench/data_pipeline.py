"""Benchmark of the data foundation at a given scale (default: seed).

Measures, each step in its own process so that its peak RSS is its own:
  generate   `python -m pipeline generate`      target <= 120 s, peak RSS <= 4 GB (seed scale)
  prepare    `python -m pipeline prepare --force` target <= 60 s
  load       `pipeline.data.dataset.load_prepared`     target <= 5 s
and against baselines measured in the same run:
  read floor  gzip-decompress and json-parse every raw line: the least any Python reader of the raw files does;
  seed layout the same tables read with pandas, plus the seed's in-memory layout: the user's book_idxs
              tuple copied onto every labelled row (time and memory).
Then prints the text statistics of the first 50,000 raw reviews beside the real files' (pipeline.data.textstats)
and the calibration table: the seed tutorial's five LFs (tests/seed_lfs.py, run by snorkel's
PandasLFApplier) on the generated dev split, side by side with the seed's dev table.

Usage: python -m bench.data_pipeline [--scale seed] [--seed 0] [--repeat 3] [--work DIR] [--skip-calibration]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pipeline.data import rawformat
from pipeline.data.calibration import compare_to_seed, positive_share_ok
from pipeline.data.dataset import load_prepared

ROOT = Path(__file__).resolve().parent.parent

TARGETS = {"generate": 120.0, "prepare": 60.0, "load": 5.0}
RSS_TARGET_GB = {"generate": 4.0}


def run_child(args: list[str]) -> tuple[float, float]:
    """Run `python -m pipeline ARGS`; return (wall seconds, peak RSS in GB) of that process."""
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "pipeline", *args], cwd=ROOT, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"`python -m pipeline {' '.join(args)}` failed")
    return seconds, usage.ru_maxrss / 1024**2


def read_floor(raw: Path) -> float:
    t0 = time.perf_counter()
    for name in rawformat.RAW_FILES:
        with gzip.open(raw / name, "rb") as f:
            for line in f:
                json.loads(line)
    return time.perf_counter() - t0


def seed_layout(processed: Path) -> dict:
    """Read the same tables, then copy each user's book_idxs tuple onto every labelled row, as the seed does."""
    import pandas as pd

    tables = {name: pd.read_parquet(processed / f"{name}.parquet")
              for name in ("books", "users", "train", "dev", "val", "test")}
    by_user = dict(zip(tables["users"].user_idx, tables["users"].book_idxs.map(tuple), strict=True))
    for split in ("train", "dev", "val", "test"):
        tables[split]["book_idxs"] = tables[split].user_idx.map(by_user)
    return tables


def frames_mb(frames) -> float:
    """Deep memory of DataFrames, counting each distinct book-set object once (shared sets are not copies)."""
    seen, total = set(), 0
    for df in frames:
        total += int(df.drop(columns=[c for c in ("book_idxs",) if c in df]).memory_usage(deep=True).sum())
        if "book_idxs" in df:
            for obj in df["book_idxs"]:
                if id(obj) not in seen:
                    seen.add(id(obj))
                    total += sys.getsizeof(obj) + getattr(obj, "nbytes", 8 * len(obj))
            total += 8 * len(df)  # the column's pointers
    return total / 1024**2


def timed(fn, repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def text_fidelity(raw: Path, processed: Path) -> None:
    import itertools

    from pipeline.data.raw import iter_reviews
    from pipeline.data.textstats import SAMPLE, fidelity_table, text_stats

    chunks = iter_reviews(raw, columns=["review_text"], chunk_rows=SAMPLE)
    stats = text_stats(itertools.chain.from_iterable(c["review_text"] for c in chunks))
    counts = json.loads((processed / "manifest.json").read_text()).get("counts", {})
    print(f"\nText and ratings against the real files (first {stats.reviews:,} raw reviews, "
          f"{stats.sentences:,} sentences, mean {stats.mean_tokens:.0f} tokens)")
    print(fidelity_table(stats, counts).to_string(index=False, float_format=lambda v: f"{v:.4f}"))


def calibration(processed: Path) -> None:
    import numpy as np
    from snorkel.labeling import LFAnalysis, PandasLFApplier

    from tests.seed_lfs import make_seed_lfs

    data = load_prepared(processed)
    dev = data.splits["dev"].copy()
    by_user = dict(zip(data.users.user_idx, data.users.book_idxs.map(tuple), strict=True))
    dev["book_idxs"] = dev.user_idx.map(by_user)
    lfs = make_seed_lfs(data.books)
    t0 = time.perf_counter()
    L = PandasLFApplier(lfs).apply(dev, progress_bar=True)
    seconds = time.perf_counter() - t0
    y = dev.rating.to_numpy()
    table = compare_to_seed(LFAnalysis(L, lfs).lf_summary(y))
    share = float(np.mean(y))
    print(f"\nCalibration: seed tutorial LFs on the generated dev split ({len(dev):,} rows; "
          f"PandasLFApplier took {seconds:.0f} s, {len(dev) / seconds:,.0f} rows/s)")
    print(table.to_string(float_format=lambda v: f"{v:.4f}"))
    print(f"positive share among labelled dev rows: {share:.3f} (want 0.62..0.74: "
          f"{'ok' if positive_share_ok(share) else 'OUT OF RANGE'})")
    print("all LFs within tolerance" if table.ok.all() else "SOME LFs OUT OF TOLERANCE")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scale", default="seed")
    ap.add_argument("--seed", type=int, default=0, help="generator seed (the targets are set at seed 0)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--work", type=Path, default=None, help="folder for the data (default: a temp folder)")
    ap.add_argument("--skip-calibration", action="store_true")
    args = ap.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="lfwb-bench-"))
    raw, processed = work / "raw", work / "processed"
    rows = []

    gen = [run_child(["generate", "--scale", args.scale, "--seed", str(args.seed), "--out", str(raw)])
           for _ in range(args.repeat)]
    floor = [read_floor(raw) for _ in range(args.repeat)]
    rows.append(("generate", [s for s, _ in gen], max(r for _, r in gen), "read floor", floor))
    prep = [run_child(["prepare", "--raw", str(raw), "--out", str(processed), "--force"])
            for _ in range(args.repeat)]
    rows.append(("prepare", [s for s, _ in prep], max(r for _, r in prep), "read floor", floor))
    load = timed(lambda: load_prepared(processed), max(args.repeat, 5))
    layout = timed(lambda: seed_layout(processed), max(args.repeat, 5))
    rows.append(("load", load, float("nan"), "seed layout", layout))
    ours = load_prepared(processed)
    ours_mb = frames_mb([ours.users, *ours.splits.values()])
    seed_mb = frames_mb([df for name, df in seed_layout(processed).items() if name != "books"])

    sizes = {name: (raw / name).stat().st_size / 1024**2 for name in rawformat.RAW_FILES}
    print(f"\nData pipeline benchmark, scale={args.scale}, seed={args.seed}, {args.repeat} repeats, "
          f"{os.cpu_count()} cores")
    print("raw files: " + ", ".join(f"{n} {mb:,.0f} MB" for n, mb in sizes.items()))
    manifest = json.loads((processed / "manifest.json").read_text())
    print("prepared: " + json.dumps(manifest.get("counts", {})))
    header = ("step", "median s", "target s", "peak RSS GB", "baseline", "median s", "ratio")
    print("\n{:10} {:>9} {:>9} {:>12}   {:12} {:>9} {:>6}".format(*header))
    for step, times, rss, base_name, base in rows:
        med, bmed = statistics.median(times), statistics.median(base)
        rss_over = rss > RSS_TARGET_GB.get(step, float("inf"))  # False for nan (not measured)
        ok = "ok" if med <= TARGETS[step] and not rss_over else "MISSED"
        print(f"{step:10} {med:9.2f} {TARGETS[step]:9.0f} {rss:12.2f}   {base_name:12} {bmed:9.2f} "
              f"{med / bmed:6.2f}  {ok}")
    print(f"memory of users + splits: {ours_mb:,.0f} MB with book sets stored once per user, "
          f"{seed_mb:,.0f} MB in the seed's layout (a tuple per row), ratio {ours_mb / seed_mb:.2f}")
    text_fidelity(raw, processed)
    if not args.skip_calibration:
        calibration(processed)


if __name__ == "__main__":
    main()
