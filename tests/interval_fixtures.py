"""Runs with "metrics" of the shape pipeline.runs.retrain records since intervals (contenders item_knn and als, "ci",
"deltas", "previous_run", "bootstrap") and with an "eval_scores" artifact, written straight into a registry: for
the CLI and page tests of intervals, without training anything.

`hand_metrics` is hand-made with known verdicts: ours - popularity on HR@10 has an interval covering 0 (not
significant), ours - seed replica on HR@10 one excluding 0 (significant); likewise the previous-run delta on
HR@10 covers 0 and on F1 excludes it (figures that fit a previous run with `old_metrics(f1=0.55)`).
`scores(...)` builds per-row scores on fixed test rows, and `metrics_from(scores)` the metrics a retrain would
record from them (pipeline.training.bootstrap).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from pipeline.runs.registry import Registry
from pipeline.training.bootstrap import EvalScores, bootstrap

BOOTSTRAP = {"n_resamples": 1000, "seed": 0, "level": 0.95, "unit": "user"}
OLD_CONTENDERS = ("ours", "seed_replica", "popularity", "lf_only")


def _figures(base: float) -> dict[str, float]:
    return {"accuracy": base, "precision": base, "recall": base, "f1": base, "roc_auc": base + 0.1,
            "log_loss": 0.6, "hr@10": base / 2, "ndcg@10": base / 4, "n": 100}


def hand_metrics(*, previous_run: int | None = None, f1: float = 0.6) -> dict[str, Any]:
    """New-shape metrics with one not-significant and one significant delta per comparison (see the module)."""
    contenders = {"ours": {**_figures(0.6), "f1": f1}, "seed_replica": _figures(0.5), "popularity": _figures(0.58),
                  "item_knn": _figures(0.55), "als": _figures(0.52),
                  "lf_only": {k: v for k, v in _figures(0.7).items() if not k.startswith(("hr", "ndcg"))}
                  | {"coverage": 0.4}}
    ci = {name: {m: [round(v - 0.05, 4), round(v + 0.05, 4)] for m, v in figures.items()
                 if m not in ("log_loss", "n", "coverage")} for name, figures in contenders.items()}
    deltas: dict[str, dict[str, Any]] = {}
    for name in contenders:
        if name == "ours":
            continue
        deltas[name] = {}
        for metric, value in contenders[name].items():
            if metric in ("log_loss", "n", "coverage"):
                continue
            delta = contenders["ours"][metric] - value
            lo, hi = (delta - 0.2, delta + 0.2) if name == "popularity" else (delta - 0.001, delta + 0.001)
            if name != "popularity" and lo <= 0 <= hi:  # keep the other contenders' intervals off 0
                lo, hi = (0.001, 0.002) if delta >= 0 else (-0.002, -0.001)
            deltas[name][metric] = {"delta": delta, "ci": [lo, hi], "significant": not lo <= 0 <= hi}
    metrics = {"contenders": contenders, "table": {}, "test_rows": 100, "ranking_cases": 40, "ci": ci,
               "deltas": deltas, "previous_run": previous_run, "bootstrap": BOOTSTRAP,
               "stage_seconds": {"features": 1.0, "evaluate": 2.0}, "peak_rss_mb": 100.0}
    if previous_run is not None:
        deltas["previous"] = {"f1": {"delta": 0.05, "ci": [0.01, 0.09], "significant": True},
                              "hr@10": {"delta": 0.0, "ci": [-0.03, 0.03], "significant": False}}
    return metrics


def old_metrics(f1: float = 0.55) -> dict[str, Any]:
    """Metrics as runs from before intervals recorded them: four contenders, no ci, deltas or eval_scores."""
    contenders = {name: _figures(base) for name, base in zip(OLD_CONTENDERS, (0.6, 0.5, 0.58, 0.7), strict=True)}
    contenders["ours"]["f1"] = f1
    return {"contenders": contenders, "table": {}, "test_rows": 100, "ranking_cases": 40,
            "stage_seconds": {"features": 1.0}}


def scores(*, better_ranks: bool = False, replica_seed: int = 0, n_users: int = 30) -> EvalScores:
    """Per-row scores on fixed rows (4 rows and 2 ranking cases per user). Our model's classification scores are
    the same in every call; `better_ranks` puts its positives first in every case (HR@10 = 1) instead of at
    rank 50 (HR@10 = 0). Popularity, item-kNN and ALS are the same in every call; the seed replica depends on
    `replica_seed`."""
    rng = np.random.default_rng(7)
    users = np.repeat(np.arange(n_users), 4)
    y = np.tile([1, 1, 0, 0], n_users)
    ours = np.clip(y * 0.3 + rng.uniform(0.2, 0.6, len(y)), 0, 1)
    fixed = {name: rng.uniform(0, 1, len(y)) for name in ("popularity", "item_knn", "als")}
    replica = np.random.default_rng(replica_seed).uniform(0, 1, len(y))
    case_user = np.repeat(np.arange(n_users), 2)
    ranks = {"ours": np.zeros(len(case_user), int) if better_ranks else np.full(len(case_user), 50),
             "seed_replica": np.random.default_rng(replica_seed).integers(0, 100, len(case_user)),
             **{name: rng.integers(0, 100, len(case_user)) for name in fixed}}
    return EvalScores(row_user=users, y=y, case_user=case_user, scores={"ours": ours, "seed_replica": replica,
                                                                         **fixed}, ranks=ranks)


def metrics_from(ev: EvalScores, previous_run: int | None = None) -> dict[str, Any]:
    """The metrics a retrain records from these scores: point figures, intervals and deltas of the bootstrap."""
    out = bootstrap(ev, n_resamples=200, seed=0)
    contenders = {name: {m: v for m, v in figures.items() if v is not None} for name, figures in out["point"].items()}
    return {"contenders": contenders, "table": {}, "test_rows": len(ev.y), "ranking_cases": len(ev.case_user),
            "ci": out["ci"], "deltas": out["deltas"], "previous_run": previous_run,
            "bootstrap": {**BOOTSTRAP, "n_resamples": 200}, "stage_seconds": {"evaluate": 1.0}}


def record_run(registry: Registry, metrics: dict[str, Any] | None, *, fingerprint: str = "fp",
               ev: EvalScores | None = None, status: str = "succeeded", note: str = "") -> int:
    """A finished run with `metrics` (and `ev` saved as its eval_scores artifact), through the real registry."""
    run_id = registry.create(dataset_fingerprint=fingerprint, lf_config_toml="schema_version = 1\n",
                             lf_config_hash="ab" * 32, params={}, note=note)
    registry.start(run_id, os.getpid())
    if metrics is not None:
        registry.put_result(run_id, "metrics", metrics)
    if ev is not None:
        registry.runs_dir(run_id).mkdir(parents=True, exist_ok=True)
        ev.save(registry.runs_dir(run_id) / "eval_scores.npz")
        registry.set_artifacts(run_id, {"eval_scores": "eval_scores.npz"})
    registry.finish(run_id, status)
    return run_id
