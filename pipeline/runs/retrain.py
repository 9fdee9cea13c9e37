"""The one-click retrain: LFs -> label model -> training labels -> end model -> test metrics beside baselines.

`retrain(run, prepared, config, params)` runs every stage inside a job (pipeline.runs.jobs.run_job gives `run`, a
RunHandle that writes stage, progress, epochs, results and artifacts to the run registry):

  features        the per-row LF features (cached after the first run)
  apply           the LF config on train, dev and test; snorkel's LF summary on dev
  label model     snorkel LabelModel on L_train; its report on dev beside majority vote
  labels          label-model labels on covered train rows + dev gold -> training_labels.parquet
  contenders      item-kNN and ALS (pipeline.training.contenders), from their cache when the data and params are
  unchanged
  train ours      the hybrid (pipeline.training.hybrid): read ranker + like head (from the labels) + output, on val
  train replica   the seed's model as written (hidden layer dropped, Adagrad); reused from its cache when its
                  inputs (the labels, its params, the data) are unchanged
  evaluate        one set of test rows for every contender: ours, seed replica, popularity, item-kNN, ALS,
                  LF-only; a paired bootstrap over test users gives every metric and every delta (ours minus
                  each contender, and minus the previous run's ours on the same rows) a 95% interval
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
from pipeline.data.dataset import PreparedData
from pipeline.data.files import write_atomic, write_text_atomic
from pipeline.training.labelmodel import LabelModelParams

# The stages of a retrain, in order (for progress displays).
STAGES = ("features", "apply", "label model", "labels", "contenders", "train ours", "train replica", "evaluate")
REPLICA_CACHE_VERSION = 2  # 2: Adagrad's accumulators start at 0, as in the seed's TF 1.14 run
EVAL_SCORES_FILE = "eval_scores.npz"


@dataclass(frozen=True)
class RetrainParams:
    label_model: LabelModelParams = field(default_factory=LabelModelParams)
    end_model: dict = field(default_factory=dict)  # overrides of pipeline.training.hybrid.HybridParams (our model)
    # Overrides of the seed replica's settings (default: none, the tutorial's 30 epochs x 300 steps x 256).
    replica: dict = field(default_factory=dict)
    contenders: dict = field(default_factory=dict)  # overrides of pipeline.training.contenders.ContenderParams
    eval_seed: int = 0
    ranking_negatives: int = 100
    bootstrap_resamples: int = 1000
    # whether the run may replace the model in use when it succeeds (pipeline.runs.promotion)
    auto_promote: bool = True

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
    from pipeline.training import endmodel
    from pipeline.training.contenders import ContenderParams, fit_contenders
    from pipeline.training.hybrid import HybridParams, train_hybrid
    from pipeline.training.labelmodel import fit_label_model, label_model_report, training_labels

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
    labels_path = write_training_labels(labels, out_dir / "training_labels.parquet")
    run.artifacts({"training_labels": str(labels_path)})
    timer.lap("labels")

    run.stage("contenders", 0.0)
    contender_params = ContenderParams.from_dict(params.contenders)
    contenders = fit_contenders(prepared, contender_params,
                                progress=lambda f, detail: run.stage("contenders", f, detail))
    timer.lap("contenders")

    run.stage("train ours", 0.0)
    epochs_seen = [0]

    def on_part_epoch(part, epoch, total, logs):
        epochs_seen[0] += 1
        # one series for the read ranker's epochs, then the like head's: numbered on, so the curves do not fold
        run.epoch("ours", epochs_seen[0], {k: v for k, v in logs.items() if k != "part"} | {"epoch": epochs_seen[0]})
        run.stage("train ours", None, f"{part}: epoch {epoch} (at most {total})")

    ours = train_hybrid(prepared, contenders, labels, HybridParams.from_dict(params.end_model),
                        on_epoch=on_part_epoch, cancel_check=run.check_cancelled)
    model_path = out_dir / "model.keras"
    endmodel.save_model(ours.model, model_path)
    run.artifacts({"model": str(model_path)})
    timer.lap("train ours")

    run.stage("train replica", 0.0)
    replica, reused = _replica(run, prepared, labels, params)
    run.stage("train replica", 1.0, "reused: same labels and params as an earlier run" if reused else "")
    timer.lap("train replica")

    run.stage("evaluate", 0.0)
    scorers = {"ours": _hybrid_scorer(ours.model, prepared, contenders, contender_params),
               "seed_replica": endmodel.Scorer(replica)}
    metrics, scores = evaluate_contenders(prepared, scorers | contenders, lm, L["test"], splits["test"].rows,
                                          params)
    scores_path = scores.save(out_dir / EVAL_SCORES_FILE)
    previous = _previous_scores(run)
    metrics |= compare(scores, previous, params)
    metrics["replica_reused"] = reused
    timer.lap("evaluate")
    metrics["stage_seconds"] = timer.seconds
    metrics["peak_rss_mb"] = _peak_rss_mb()
    # written before the registry names it, so a listed artifact is always a whole file
    metrics_path = write_metrics(metrics, out_dir / "metrics.json")
    run.artifacts({"metrics": str(metrics_path), "eval_scores": str(scores_path)})
    run.result("metrics", metrics)
    run.stage("done", 1.0)
    return metrics


def write_training_labels(labels: pd.DataFrame, path: Path) -> Path:
    """The run's training labels as parquet, written atomically (pipeline.data.files: a reader, or a run killed
    meanwhile, leaves the old file or this one, never a part)."""
    write_atomic(path, lambda f: labels.to_parquet(f, index=False))
    return path


def write_metrics(metrics: dict[str, Any], path: Path) -> Path:
    """The run's metrics as indented JSON (NumPy scalars as floats), written atomically."""
    write_text_atomic(path, json.dumps(metrics, indent=2, default=float) + "\n")
    return path


def _peak_rss_mb() -> float:
    """Peak resident memory of this job process and of its finished children (the TextBlob pool), in MB."""
    import resource

    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return round(max(own, children) / 1024, 1)


def _hybrid_scorer(model, prepared: PreparedData, contenders: dict, contender_params):
    from pipeline.training.hybrid import HybridFeatures, HybridScorer

    return HybridScorer(model, HybridFeatures.from_data(prepared, contenders, contender_params.max_set_size))


def replica_key(prepared: PreparedData, labels: pd.DataFrame, params: RetrainParams) -> str:
    """What the seed replica's weights depend on: the data, its training labels, its params and the seed of its
    negatives. Equal keys give bit-identical models (the training is deterministic on CPU)."""
    import hashlib

    digest = hashlib.sha256()
    digest.update(json.dumps({"version": REPLICA_CACHE_VERSION, "fingerprint": prepared.manifest.get("fingerprint"),
                              "replica": params.replica, "eval_seed": params.eval_seed},
                             sort_keys=True).encode())
    for column in ("user_idx", "book_idx", "label"):
        digest.update(np.ascontiguousarray(labels[column].to_numpy()).tobytes())
    return digest.hexdigest()[:24]


def _replica(run, prepared: PreparedData, labels: pd.DataFrame, params: RetrainParams):
    """(the seed replica's model, reused?): loaded from ``<processed>/replica/`` when an earlier run trained it
    on the same inputs, else trained (by the seed's protocol) and kept there."""
    from pipeline.training import endmodel

    folder = Path(prepared.path) / "replica" / f"v{REPLICA_CACHE_VERSION}"
    path = folder / f"{replica_key(prepared, labels, params)}.keras"
    if path.is_file():
        try:
            return endmodel.load_model(path), True
        except (OSError, ValueError) as e:  # a damaged cache file is retrained, never fatal
            run.stage("train replica", 0.0, f"cached replica unreadable ({e}): training it")
    csr = prepared.user_books_csr
    n_books = len(prepared.books)
    rng = np.random.default_rng(params.eval_seed)
    val = prepared.splits["val"]
    train_ex = endmodel.build_examples(labels.user_idx.to_numpy(), labels.book_idx.to_numpy(),
                                       labels.label.to_numpy(), csr, n_books, rng=rng)
    val_ex = endmodel.build_examples(val.user_idx.to_numpy(), val.book_idx.to_numpy(),
                                     val.rating.to_numpy(dtype=float), csr, n_books, rng=rng)
    mp = endmodel.model_params(replica=True, **params.replica)

    def on_epoch(epoch, total, logs):
        run.epoch("seed_replica", epoch, logs)
        run.stage("train replica", epoch / total, f"epoch {epoch} of {total}")

    result = endmodel.train(train_ex, val_ex, n_books, mp, replica=True, on_epoch=on_epoch,
                            cancel_check=run.check_cancelled)
    try:
        endmodel.save_model(result.model, path)
    except OSError:  # a read-only data folder: the model is still good, just not kept
        pass
    return result.model, False


def _previous_scores(run):
    """(run id, EvalScores) of the newest succeeded run before this one that kept its test scores, or None."""
    from pipeline.training.bootstrap import EvalScores

    for prev in run.registry.list(status="succeeded"):
        if prev.id >= run.id or "eval_scores" not in prev.artifacts:
            continue
        try:
            return prev.id, EvalScores.load(prev.artifact("eval_scores"))
        except (OSError, ValueError):
            return None
    return None


def compare(scores, previous, params: RetrainParams) -> dict[str, Any]:
    """The bootstrap's "ci" and "deltas" (ours minus each contender, and minus the previous run's ours when it
    was evaluated on the same rows), "previous_run" and the bootstrap's settings."""
    from pipeline.training.bootstrap import EvalScores, bootstrap

    previous_run = None
    if previous is not None and previous[1].key() == scores.key() and "ours" in previous[1].scores:
        previous_run = previous[0]
        scores = EvalScores(row_user=scores.row_user, y=scores.y, case_user=scores.case_user,
                            scores={**scores.scores, "previous": previous[1].scores["ours"]},
                            ranks={**scores.ranks, "previous": previous[1].ranks["ours"]},
                            row_book=scores.row_book, case_positive=scores.case_positive)
    result = bootstrap(scores, reference="ours", n_resamples=params.bootstrap_resamples, seed=params.eval_seed)
    ci = {name: values for name, values in result["ci"].items() if name != "previous"}
    return {"ci": ci, "deltas": result["deltas"], "previous_run": previous_run,
            "bootstrap": {key: result[key] for key in ("n_resamples", "seed", "level", "unit")}}


def evaluate_contenders(prepared: PreparedData, scorers: dict, label_model, L_test: np.ndarray,
                        test_rows: pd.DataFrame, params: RetrainParams):
    """Every contender on the same test rows: classification (seed protocol) and ranking (HR@10, NDCG@10).

    scorers: name -> an object with ``bind(csr)`` (ours, the replica, item_knn, als); popularity and LF-only are
    added here. Returns (the metrics dict, the `EvalScores` of every contender for the bootstrap)."""
    from pipeline.training import evaluate
    from pipeline.training.bootstrap import EvalScores
    from pipeline.training.labelmodel import lf_only_probabilities

    csr = prepared.user_books_csr
    n_books = len(prepared.books)
    rows = evaluate.classification_rows(test_rows, csr, n_books, seed=params.eval_seed)
    cases = evaluate.ranking_cases(test_rows, csr, n_books, n_negatives=params.ranking_negatives,
                                   seed=params.eval_seed)
    score_fns = {key: scorer.bind(csr) for key, scorer in scorers.items()}
    score_fns["popularity"] = evaluate.popularity_scorer(evaluate.popularity_scores(prepared))
    order = ["ours", "seed_replica", "popularity", "item_knn", "als"]
    results: dict[str, dict] = {}
    scores, ranks = {}, {}
    for key in sorted(score_fns, key=lambda k: order.index(k) if k in order else len(order)):
        fn = score_fns[key]
        scores[key] = rows.score(fn)
        ranks[key] = evaluate.ranking_ranks(fn, cases)
        results[key] = (evaluate.classification_metrics(rows.y, scores[key])
                        | evaluate.metrics_from_ranks(ranks[key], cases))
    # LF-only: the label model on the labelled test rows where some LF votes (sampled negatives have no LF input).
    probs = lf_only_probabilities(label_model, L_test)
    covered = ~np.isnan(probs)
    lf_only = evaluate.classification_metrics(test_rows["rating"].to_numpy()[covered], probs[covered])
    results["lf_only"] = lf_only | {"coverage": float(covered.mean())}
    scores["lf_only"] = np.where(rows.source_row >= 0, probs[np.maximum(rows.source_row, 0)], np.nan)
    table = evaluate.compare_contenders(results, reference="ours")
    metrics = {"contenders": results, "table": json.loads(table.to_json(orient="index")),
               "test_rows": int(len(rows)), "ranking_cases": int(len(cases.positive))}
    return metrics, EvalScores.from_evaluation(rows, cases, scores=scores, ranks=ranks)
