"""Does the LF loop pay off? Three retrains at seed scale that differ only in the LF config:

  (a) the seed's five LFs (lfs/default.toml);
  (b) the same with every label flipped (0 <-> 1);
  (c) the seed's LFs without the three review-polarity LFs (polarity_positive, subjectivity_positive,
      polarity_negative).

Each is a real `python -m pipeline retrain --json` (job process, snorkel LabelModel, both TensorFlow models, the
contenders from their cache). Prints our model's test metrics with their 95% intervals per config, and the
deltas of (b) and (c) to (a) with paired-bootstrap intervals over test users
(pipeline.training.bootstrap.compare_runs_ci
on the runs' kept test scores), marked "not significant" where the interval covers 0.

Usage: python -m bench.lf_loop --data DIR   (DIR/processed at seed scale, e.g. from bench/data_pipeline.py)
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

import tomli_w

from lfs.config import DEFAULT_CONFIG_PATH
from pipeline.runs.registry import Registry
from pipeline.training.bootstrap import EvalScores, compare_runs_ci

ROOT = Path(__file__).resolve().parent.parent

METRICS = ("f1", "roc_auc", "hr@10", "ndcg@10")
POLARITY_LFS = {"polarity_positive", "subjectivity_positive", "polarity_negative"}


def configs() -> dict[str, str]:
    """The three LF configs as TOML text."""
    text = Path(DEFAULT_CONFIG_PATH).read_text()
    flipped = re.sub(r"(?m)^label = ([01])$", lambda m: f"label = {1 - int(m.group(1))}", text)
    doc = tomllib.loads(text)
    doc["lf"] = [lf for lf in doc["lf"] if lf["name"] not in POLARITY_LFS]
    return {"a: seed's five LFs": text, "b: every label flipped": flipped,
            "c: without the review-polarity LFs": tomli_w.dumps(doc)}


def retrain(data: Path, config_text: str, note: str) -> tuple[dict, float]:
    with tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False) as f:
        f.write(config_text)
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "pipeline", "retrain", "--data", str(data), "--config", f.name,
                           "--json", "--note", note], cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - started
    Path(f.name).unlink()
    if proc.returncode != 0:
        raise SystemExit(f"retrain ({note}) failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout), wall


def fmt(value: float | None, ci) -> str:
    if value is None:
        return "-"
    if not ci or ci[0] is None:
        return f"{value:.3f}"
    return f"{value:.3f} [{ci[0]:.3f}, {ci[1]:.3f}]"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, required=True, help="data folder holding processed/ (seed scale)")
    args = ap.parse_args()
    registry = Registry.for_data(args.data)
    runs = {}
    for name, text in configs().items():
        metrics, wall = retrain(args.data, text, f"bench/lf_loop.py {name}")
        run = registry.list(limit=1, status="succeeded")[0]
        runs[name] = (run, metrics)
        print(f"{name}: run {run.id}, {wall:.0f} s", flush=True)

    print("\nOur model on the test rows, 95% intervals (paired bootstrap over test users):")
    print(f"{'config':<38}" + "".join(f"{m:>24}" for m in METRICS))
    for name, (_, metrics) in runs.items():
        ours, ci = metrics["contenders"]["ours"], metrics.get("ci", {}).get("ours", {})
        print(f"{name:<38}" + "".join(f"{fmt(ours[m], ci.get(m)):>24}" for m in METRICS))

    base_name = next(iter(runs))
    base = EvalScores.load(runs[base_name][0].artifact("eval_scores"))
    print(f"\nDelta to ({base_name[0]}), config minus (a):")
    for name, (run, _) in list(runs.items())[1:]:
        other = EvalScores.load(run.artifact("eval_scores"))
        result = compare_runs_ci(base, other, labels=("a", name[0]))
        deltas = result["deltas"][name[0]]
        cells = []
        for m in METRICS:
            d = deltas[m]
            # compare_runs_ci reports a - other; the table shows other - a
            lo, hi = -d["ci"][1], -d["ci"][0]
            mark = "" if d["significant"] else " (n.s.)"
            cells.append(f"{-d['delta']:+.3f} [{lo:+.3f}, {hi:+.3f}]{mark}")
        print(f"{name:<38}" + "".join(f"{c:>30}" for c in cells))


if __name__ == "__main__":
    main()
