"""The one-click retrain: LFs -> label model -> training labels -> end model -> test metrics beside baselines.

`retrain(run, prepared, config, params)` runs every stage inside a job (pipeline.jobs.run_job gives `run`, a
RunHandle that writes stage, progress, epochs, results and artifacts to the run registry):

  features        the per-row LF features (cached after the first run)
  apply           the LF config on train, dev and test; snorkel's LF summary on dev
  label model     snorkel LabelModel on L_train; its report on dev beside majority vote
  labels          label-model labels on covered train rows + dev gold -> training_labels.parquet
  train ours      the seed's architecture with its hidden layers really used; early stopping on val
  train replica   the seed's model as written (hidden layer dropped, Adagrad)
  evaluate        one set of test rows for every contender: ours, seed replica, popularity, LF-only
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lfs.config import LFConfig
from pipeline.dataset import PreparedData
from pipeline.labelmodel import LabelModelParams

# The stages of a retrain, in order (for progress displays).
STAGES = ("features", "apply", "label model", "labels", "train ours", "train replica", "evaluate")


@dataclass(frozen=True)
class RetrainParams:
    label_model: LabelModelParams = field(default_factory=LabelModelParams)
    end_model: dict = field(default_factory=dict)  # overrides of pipeline.endmodel.EndModelParams
    # Overrides of the seed replica's settings (default: none, the tutorial's 30 epochs x 300 steps x 256).
    replica: dict = field(default_factory=dict)
    eval_seed: int = 0
    ranking_negatives: int = 100

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> RetrainParams:
        d = dict(d)
        lm = LabelModelParams(**d.pop("label_model", {}))
        return cls(label_model=lm, **d)


class _Timer:
    def __init__(self):
        self.seconds: dict[str, float] = {}
        self._t = time.perf_counter()

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        self.seconds[stage] = round(now - self._t, 3)
        self._t = now


def retrain(run, prepared: PreparedData, config: LFConfig, params: RetrainParams) -> dict[str, Any]:
    """Run every stage; return the metrics dict also stored as the run's "metrics" result."""
    from lfs.analysis import lf_summary
    from lfs.features import load_all_features
    from lfs.workspace import open_split
    from pipeline import endmodel
    from pipeline.labelmodel import fit_label_model, label_model_report, training_labels

    timer = _Timer()
    specs = config.enabled()
    if not specs:
        raise ValueError("the LF config has no enabled LF: enable at least one before retraining")
    names = [s.name for s in specs]
    out_dir = Path(run.dir)

    run.stage("features", 0.0)
    feats = load_all_features(prepared, ("train", "dev", "test"), progress=False)
    timer.lap("features")

    run.stage("apply", 0.0)
    splits = {s: open_split(prepared, s, features=feats[s]) for s in ("train", "dev", "test")}
    L = {s: split.matrix(specs) for s, split in splits.items()}
    summary = lf_summary(L["dev"], specs, splits["dev"].gold)
    run.result("lf_summary", json.loads(summary.to_json(orient="index")))
    timer.lap("apply")

    run.stage("label model", 0.0, f"{params.label_model.n_epochs} epochs")
    lm = fit_label_model(L["train"], params.label_model, y_dev=splits["dev"].gold)
    run.result("label_model", label_model_report(lm, L["dev"], splits["dev"].gold, names,
                                                 summary["Emp. Acc."].tolist()))
    timer.lap("label model")

    run.stage("labels", 0.0)
    labels = training_labels(prepared.splits["train"], L["train"], lm, prepared.splits["dev"],
                             soft=params.label_model.soft_labels)
    labels_path = out_dir / "training_labels.parquet"
    labels.to_parquet(labels_path, index=False)
    run.artifacts({"training_labels": str(labels_path)})
    timer.lap("labels")

    csr = prepared.user_books_csr
    n_books = len(prepared.books)
    rng = np.random.default_rng(params.eval_seed)
    val = prepared.splits["val"]
    train_ex = endmodel.build_examples(labels.user_idx.to_numpy(), labels.book_idx.to_numpy(),
                                       labels.label.to_numpy(), csr, n_books, rng=rng)
    val_ex = endmodel.build_examples(val.user_idx.to_numpy(), val.book_idx.to_numpy(),
                                     val.rating.to_numpy(dtype=float), csr, n_books, rng=rng)
    models = {}
    for key, stage, replica, overrides in (("ours", "train ours", False, params.end_model),
                                           ("seed_replica", "train replica", True, params.replica)):
        mp = endmodel.model_params(replica=replica, **overrides)
        run.stage(stage, 0.0)

        def on_epoch(epoch, total, logs, _key=key, _stage=stage):
            run.epoch(_key, epoch, logs)
            run.stage(_stage, epoch / total, f"epoch {epoch} of {total}")

        result = endmodel.train(train_ex, val_ex, n_books, mp, replica=replica, on_epoch=on_epoch,
                                cancel_check=run.check_cancelled)
        models[key] = result.model
        timer.lap(stage)
    model_path = out_dir / "model.keras"
    endmodel.save_model(models["ours"], model_path)
    run.artifacts({"model": str(model_path)})

    run.stage("evaluate", 0.0)
    metrics = evaluate_contenders(prepared, models, lm, L["test"], splits["test"].rows, params)
    metrics_path = out_dir / "metrics.json"
    run.artifacts({"metrics": str(metrics_path)})
    timer.lap("evaluate")
    metrics["stage_seconds"] = timer.seconds
    metrics["peak_rss_mb"] = _peak_rss_mb()
    metrics_path.write_text(json.dumps(metrics, indent=2, default=float) + "\n")
    run.result("metrics", metrics)
    run.stage("done", 1.0)
    return metrics


def _peak_rss_mb() -> float:
    """Peak resident memory of this job process and of its finished children (the TextBlob pool), in MB."""
    import resource

    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return round(max(own, children) / 1024, 1)


def evaluate_contenders(prepared: PreparedData, models: dict, label_model, L_test: np.ndarray,
                        test_rows: pd.DataFrame, params: RetrainParams) -> dict[str, Any]:
    """Every contender on the same test rows: classification (seed protocol) and ranking (HR@10, NDCG@10)."""
    from pipeline import endmodel, evaluate
    from pipeline.labelmodel import lf_only_probabilities

    csr = prepared.user_books_csr
    n_books = len(prepared.books)
    rows = evaluate.classification_rows(test_rows, csr, n_books, seed=params.eval_seed)
    cases = evaluate.ranking_cases(test_rows, csr, n_books, n_negatives=params.ranking_negatives,
                                   seed=params.eval_seed)
    score_fns = {key: endmodel.Scorer(model).bind(csr) for key, model in models.items()}
    score_fns["popularity"] = evaluate.popularity_scorer(evaluate.popularity_scores(prepared))
    results: dict[str, dict] = {
        key: evaluate.classification_metrics(rows.y, rows.score(fn)) | evaluate.ranking_metrics(fn, cases)
        for key, fn in score_fns.items()
    }
    # LF-only: the label model on the labelled test rows where some LF votes (sampled negatives have no LF input).
    probs = lf_only_probabilities(label_model, L_test)
    covered = ~np.isnan(probs)
    lf_only = evaluate.classification_metrics(test_rows["rating"].to_numpy()[covered], probs[covered])
    results["lf_only"] = lf_only | {"coverage": float(covered.mean())}
    table = evaluate.compare_contenders(results, reference="ours")
    return {"contenders": results, "table": json.loads(table.to_json(orient="index")),
            "test_rows": int(len(rows)), "ranking_cases": int(len(cases.positive))}
