"""Benchmark of the one-click retrain at seed scale (targets from the training-pipeline issue).

Runs `python -m pipeline retrain --data DIR --json` (the real job process: features, LFs, snorkel LabelModel,
both TensorFlow models, evaluation) and prints:
  - wall time with the per-stage breakdown (target <= 180 s on 2 cores) and the job's peak RSS (<= 8 GB);
  - baselines measured in the same run: the seed's way of applying LFs (snorkel PandasLFApplier with the
    tutorial's LFs, timed on a train sample and extrapolated to the whole train split) against our apply stage,
    and the seed replica's training against ours;
  - the quality table: our model, seed replica, popularity, LF-only on the same test rows, with the targets
    (ours beats the replica on F1 and ROC-AUC, and popularity on HR@10 and NDCG@10).

Usage: python bench/data_pipeline.py --work DIR   (makes DIR/processed at seed scale), then
       python bench/retrain.py --data DIR [--sample 5000]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipeline.retrain_cli import format_metrics  # noqa: E402


def seed_apply_seconds(data_dir: Path, sample: int) -> tuple[float, int, float]:
    """(extrapolated seconds for the whole train split, train rows, rows/s) of the tutorial's LFs in snorkel."""
    from snorkel.labeling import PandasLFApplier

    from pipeline.dataset import load_prepared
    from tests.seed_lfs import make_seed_lfs

    data = load_prepared(data_dir / "processed")
    train = data.splits["train"]
    rows = train.sample(n=min(sample, len(train)), random_state=0)
    rows = rows.assign(book_idxs=data.book_idxs_for(rows).map(tuple))
    t0 = time.perf_counter()
    PandasLFApplier(make_seed_lfs(data.books)).apply(rows, progress_bar=False)
    rate = len(rows) / (time.perf_counter() - t0)
    return len(train) / rate, len(train), rate


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, required=True, help="data folder holding processed/ (seed scale)")
    ap.add_argument("--sample", type=int, default=5000, help="train rows for the snorkel baseline")
    args = ap.parse_args()

    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "pipeline", "retrain", "--data", str(args.data), "--json",
                           "--note", "bench/retrain.py"], cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"retrain failed:\n{proc.stderr[-3000:]}")
    metrics = json.loads(proc.stdout)
    stages = metrics["stage_seconds"]
    seed_apply, n_train, rate = seed_apply_seconds(args.data, args.sample)

    print(f"\nRetrain benchmark on {args.data} (seed scale, 2 cores)")
    print(f"wall time {wall:.1f} s (target <= 180 s: {'ok' if wall <= 180 else 'MISSED'}); "
          f"job peak RSS {metrics['peak_rss_mb'] / 1024:.2f} GB (target <= 8 GB: "
          f"{'ok' if metrics['peak_rss_mb'] <= 8 * 1024 else 'MISSED'})")
    print("stages: " + ", ".join(f"{k} {v:.1f} s" for k, v in stages.items())
          + f"; start-up and follow-up {wall - sum(stages.values()):.1f} s")
    ours_apply = stages["apply"]
    print(f"baseline, the seed's LF application: snorkel PandasLFApplier {rate:,.0f} rows/s -> {seed_apply:,.0f} s "
          f"for {n_train:,} train rows; our apply stage {ours_apply:.2f} s (ratio {seed_apply / ours_apply:,.0f}x; "
          f"with the features stage {seed_apply / (ours_apply + stages['features']):,.0f}x)")
    print(f"baseline, the seed replica's training {stages['train replica']:.1f} s vs ours {stages['train ours']:.1f} s")

    c = metrics["contenders"]
    print("\n" + format_metrics(metrics))
    checks = [("ours beats the seed replica on F1", c["ours"]["f1"] > c["seed_replica"]["f1"]),
              ("ours beats the seed replica on ROC-AUC", c["ours"]["roc_auc"] > c["seed_replica"]["roc_auc"]),
              ("ours beats popularity on HR@10", c["ours"]["hr@10"] > c["popularity"]["hr@10"]),
              ("ours beats popularity on NDCG@10", c["ours"]["ndcg@10"] > c["popularity"]["ndcg@10"])]
    print(f"\ntest rows {metrics['test_rows']:,}, ranking cases {metrics['ranking_cases']:,}")
    for text, ok in checks:
        print(f"  {text}: {'yes' if ok else 'NO'}")


if __name__ == "__main__":
    main()
