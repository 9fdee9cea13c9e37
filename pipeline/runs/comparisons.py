"""Contenders' test metrics with their 95% intervals, and our model's deltas to each, as tidy frames.

One place turns a run's "metrics" result (pipeline.runs.retrain) into figures: `python -m pipeline retrain` and
`runs compare` print them, the Train and Runs pages draw them. No streamlit and no CLI here.

A "metrics" result holds ``contenders`` ({contender: {metric: value}}) and, since intervals were added, ``ci``
({contender: {metric: [lo, hi]}}: 95% paired-bootstrap percentile intervals over test users), ``deltas``
({other: {metric: {"delta": ours - other, "ci": [lo, hi], "significant": bool}}}, "previous" being our model of
the run named by ``previous_run``) and ``bootstrap`` (its settings). Older runs have none of these: their deltas
are computed here without an interval, and say so.

- `metric_frame`: contender, metric, value, lo, hi (one row per figure), the previous run's model as a last row.
- `delta_frame`: ours - each contender (and - the previous run's model) with its interval and a verdict:
  "significant" when the interval excludes 0, "not significant" when it covers 0, "no interval (why)" without one.
- `paired_run_deltas`: run B - run A for every contender the two runs scored differently, with intervals from
  `pipeline.training.bootstrap.compare_runs_ci` on both runs' "eval_scores" artifacts, or the reason there are none.
- `value_text`, `delta_text`, `interval_text`: the figures as the CLI and the pages print them.

>>> m = {"contenders": {"ours": {"f1": 0.6}, "popularity": {"f1": 0.5}},
...      "deltas": {"popularity": {"f1": {"delta": 0.1, "ci": [-0.02, 0.2], "significant": False}}}}
>>> row = delta_frame(m).iloc[0]
>>> row["name"], delta_text(row["delta"], row["lo"], row["hi"])
('popularity', '+0.1000 [-0.0200, +0.2000] not significant')
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

__all__ = [
    "CONTENDERS", "DELTA_METRICS", "EVAL_SCORES", "METRICS", "NOT_SIGNIFICANT", "PREDATES", "PREVIOUS", "SIGNIFICANT",
    "RunPairDeltas", "bootstrap_note", "contender_name", "delta_frame", "delta_text", "has_intervals", "interval",
    "interval_text", "load_eval_scores", "metric_frame", "ordered_contenders", "pair_settings", "paired_run_deltas",
    "previous_run_id", "value_text", "verdict",
]

REFERENCE = "ours"
PREVIOUS = "previous"  # the key of the previous run's model among "deltas"
# contenders in display order, with their display names
CONTENDERS = {"ours": "our model", "seed_replica": "seed replica", "popularity": "popularity",
              "item_knn": "item-kNN", "als": "ALS", "lf_only": "LF-only"}
# test metrics in table order: key in the metrics result -> title
METRICS = {"accuracy": "accuracy", "precision": "precision", "recall": "recall", "f1": "F1", "roc_auc": "ROC-AUC",
           "log_loss": "log loss", "hr@10": "HR@10", "ndcg@10": "NDCG@10"}
# the metrics the paired bootstrap gives intervals for (log loss is not a sum over users' hits)
DELTA_METRICS = ("accuracy", "precision", "recall", "f1", "roc_auc", "hr@10", "ndcg@10")
SIGNIFICANT = "significant"
NOT_SIGNIFICANT = "not significant"
PREDATES = "no interval (run predates intervals)"
EVAL_SCORES = "eval_scores"  # the artifact holding a run's per-row scores (pipeline.training.bootstrap.EvalScores)

METRIC_COLUMNS = ["key", "name", "metric", "title", "value", "lo", "hi"]
DELTA_COLUMNS = ["key", "name", "metric", "title", "delta", "lo", "hi", "significant", "verdict"]


# --------------------------------------------------------------------------------------------------------------
# reading the metrics result


def _number(value: Any) -> float | None:
    """A finite float, or None for a missing, non-numeric or NaN figure."""
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value) or math.isinf(value):
        return None
    return float(value)


def _bounds(ci: Any) -> tuple[float, float] | None:
    """[lo, hi] as two finite floats, or None when absent or undefined."""
    if not isinstance(ci, Sequence) or isinstance(ci, str) or len(ci) != 2:
        return None
    lo, hi = _number(ci[0]), _number(ci[1])
    return None if lo is None or hi is None else (lo, hi)


def has_intervals(metrics: Mapping[str, Any] | None) -> bool:
    """Whether the run recorded intervals (runs from before intervals did not)."""
    return bool(metrics) and ("ci" in metrics or "deltas" in metrics)


def interval(metrics: Mapping[str, Any] | None, contender: str, metric: str) -> tuple[float, float] | None:
    """The 95% interval of `contender`'s `metric`, or None (no interval recorded, or undefined)."""
    return _bounds(((metrics or {}).get("ci") or {}).get(contender, {}).get(metric))


def previous_run_id(metrics: Mapping[str, Any] | None) -> int | None:
    """The run whose model the run's "previous" delta is taken to (None: none recorded)."""
    value = (metrics or {}).get("previous_run")
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def ordered_contenders(contenders: Mapping[str, Any]) -> list[str]:
    """The contenders' keys in display order (CONTENDERS first, then any other in its own order)."""
    return [k for k in CONTENDERS if k in contenders] + [k for k in contenders if k not in CONTENDERS]


def contender_name(key: str) -> str:
    return CONTENDERS.get(key, key)


def verdict(lo: float | None, hi: float | None, significant: bool | None = None) -> str:
    """The verdict on a delta's interval [lo, hi]: "significant" when it excludes 0, "not significant" when it
    covers 0, "no interval" without one. `significant` (the run's own flag) wins when given with an interval."""
    if lo is None or hi is None:
        return "no interval"
    if significant is None:
        significant = lo > 0 or hi < 0
    return SIGNIFICANT if significant else NOT_SIGNIFICANT


def bootstrap_note(metrics: Mapping[str, Any] | None) -> str:
    """One line on how the run's intervals were computed, or that it has none."""
    if not has_intervals(metrics):
        return PREDATES
    b = (metrics or {}).get("bootstrap") or {}
    settings = f" ({b['n_resamples']} resamples, seed {b.get('seed', 0)})" if b.get("n_resamples") else ""
    return (f"{b.get('level', 0.95):.0%} paired-bootstrap intervals over test {b.get('unit', 'user')}s{settings}; "
            "not significant: the interval covers 0")


# --------------------------------------------------------------------------------------------------------------
# tidy frames


def metric_frame(metrics: Mapping[str, Any] | None, previous: Mapping[str, Any] | None = None,
                 previous_label: str = "previous run") -> pd.DataFrame:
    """One row per contender and metric it has: key, name (display), metric, title, value, lo, hi (NaN without
    an interval). `previous` (an earlier run's "metrics") adds its model's figures under key "previous".

    >>> m = {"contenders": {"ours": {"f1": 0.6, "n": 10}}, "ci": {"ours": {"f1": [0.5, 0.7]}}}
    >>> metric_frame(m)[["name", "title", "value", "lo", "hi"]].values.tolist()
    [['our model', 'F1', 0.6, 0.5, 0.7]]
    """
    contenders = (metrics or {}).get("contenders") or {}
    sources = [(key, contender_name(key), contenders[key], metrics) for key in ordered_contenders(contenders)]
    before = ((previous or {}).get("contenders") or {}).get(REFERENCE)
    if before:
        sources.append((PREVIOUS, previous_label, before, previous))
    rows = []
    for key, name, figures, owner in sources:
        for metric, title in METRICS.items():
            value = _number(figures.get(metric)) if isinstance(figures, Mapping) else None
            if value is None:
                continue
            bounds = interval(owner, REFERENCE if key == PREVIOUS else key, metric)
            lo, hi = bounds if bounds else (math.nan, math.nan)
            rows.append((key, name, metric, title, value, lo, hi))
    return pd.DataFrame(rows, columns=METRIC_COLUMNS)


def delta_frame(metrics: Mapping[str, Any] | None, previous: Mapping[str, Any] | None = None,
                previous_label: str | None = None, names: Sequence[str] = DELTA_METRICS) -> pd.DataFrame:
    """Our model minus each other contender, then minus the previous run's model, for each metric in `names`.

    Columns: key (the other contender, or "previous"), name (display), metric, title, delta (ours - other:
    positive when ours is ahead), lo, hi (the delta's 95% interval, NaN without one), significant (True, False,
    or None without an interval) and verdict ("significant", "not significant" or "no interval (why)").

    The run's recorded "deltas" give the figures; a run from before intervals (or a delta it did not record)
    gets the plain difference of the two figures. The previous run's delta comes from the run's "previous"
    delta when it recorded one, else from `previous` (that run's "metrics") without an interval.
    """
    metrics = metrics or {}
    contenders = metrics.get("contenders") or {}
    ours = contenders.get(REFERENCE) or {}
    recorded = metrics.get("deltas") if isinstance(metrics.get("deltas"), Mapping) else None
    rows: list[tuple] = []

    def add(key: str, name: str, figures: Mapping[str, Any] | None, record: Mapping[str, Any] | None,
            missing: str) -> None:
        for metric in names:
            entry = (record or {}).get(metric)
            if isinstance(entry, Mapping) and _number(entry.get("delta")) is not None:
                delta, bounds = _number(entry.get("delta")), _bounds(entry.get("ci"))
                flag = entry.get("significant") if isinstance(entry.get("significant"), bool) else None
                why = "no interval (undefined on these rows)"
            else:
                mine, theirs = _number(ours.get(metric)), _number((figures or {}).get(metric))
                if mine is None or theirs is None:
                    continue
                delta, bounds, flag, why = mine - theirs, None, None, missing
            lo, hi = bounds if bounds else (math.nan, math.nan)
            said = verdict(*(bounds or (None, None)), flag)
            significant = None if bounds is None else said == SIGNIFICANT
            rows.append((key, name, metric, METRICS.get(metric, metric), delta, lo, hi, significant,
                         why if bounds is None else said))

    for key in ordered_contenders(contenders):
        if key != REFERENCE:
            record = (recorded or {}).get(key)
            add(key, contender_name(key), contenders[key], record,
                PREDATES if recorded is None else "no interval (not recorded)")

    previous_id = previous_run_id(metrics)
    label = previous_label or (f"run {previous_id} (our model)" if previous_id is not None else "previous run")
    record = (recorded or {}).get(PREVIOUS)
    before = ((previous or {}).get("contenders") or {}).get(REFERENCE)
    if isinstance(record, Mapping) and record:
        add(PREVIOUS, label, before, record, "no interval (not recorded)")
    elif before:
        if recorded is None:
            why = PREDATES
        elif not has_intervals(previous):
            why = "no interval (previous run predates intervals)"
        else:
            why = "no interval (the previous run was evaluated on other test rows)"
        add(PREVIOUS, label, before, None, why)
    return pd.DataFrame(rows, columns=DELTA_COLUMNS)


# --------------------------------------------------------------------------------------------------------------
# text


def _fmt(value: float | None, signed: bool = False) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:+.4f}" if signed else f"{value:.4f}"


def interval_text(lo: Any, hi: Any, *, signed: bool = False) -> str:
    """The interval as "[lo, hi]" to four places (with signs when `signed`); "" without an interval."""
    lo, hi = _number(lo), _number(hi)
    return "" if lo is None or hi is None else f"[{_fmt(lo, signed)}, {_fmt(hi, signed)}]"


def value_text(value: Any, lo: Any = None, hi: Any = None) -> str:
    """A figure with its interval: "0.4000 [0.3500, 0.4500]"; "0.4000" without one; "–" without a figure."""
    span = interval_text(lo, hi)
    return _fmt(_number(value)) + (f" {span}" if span else "")


def delta_text(delta: Any, lo: Any = None, hi: Any = None, significant: bool | None = None) -> str:
    """A delta with its interval, marked when the interval covers 0:
    "+0.0100 [-0.0200, +0.0400] not significant"; "+0.0100" without an interval."""
    span = interval_text(lo, hi, signed=True)
    text = _fmt(_number(delta), signed=True)
    if not span:
        return text
    said = verdict(_number(lo), _number(hi), significant)
    return f"{text} {span}" + (f" {NOT_SIGNIFICANT}" if said == NOT_SIGNIFICANT else "")


# --------------------------------------------------------------------------------------------------------------
# two runs


@dataclass(frozen=True)
class RunPairDeltas:
    """Run B minus run A per contender and metric, with paired-bootstrap intervals when both runs kept their
    scores on the same test rows.

    frame: contender (key), name, metric, title, a, b, delta (b - a), lo, hi, significant, verdict; empty when
    `reason` says why there are no intervals. unchanged: contenders both runs scored identically (their deltas
    are 0: popularity, item-kNN and ALS do not depend on the LF config)."""

    frame: pd.DataFrame
    reason: str | None = None
    unchanged: tuple[str, ...] = field(default=())

    def lookup(self) -> dict[tuple[str, str], dict[str, Any]]:
        """{(contender, metric): row} of `frame`."""
        return {(r["contender"], r["metric"]): r for r in self.frame.to_dict(orient="records")}


PAIR_COLUMNS = ["contender", "name", "metric", "title", "a", "b", "delta", "lo", "hi", "significant", "verdict"]


def load_eval_scores(run: Any):
    """(EvalScores, None) from the run's "eval_scores" artifact, or (None, why it has none)."""
    from pipeline.training.bootstrap import EvalScores

    if EVAL_SCORES not in (run.artifacts or {}):
        return None, f"run {run.id} predates intervals (it kept no per-row scores)"
    path = run.artifact(EVAL_SCORES)
    if not path.is_file():
        return None, f"run {run.id}'s per-row scores ({path.name}) are missing from its folder"
    try:
        return EvalScores.load(path), None
    except (OSError, ValueError, KeyError) as e:
        return None, f"run {run.id}'s per-row scores cannot be read ({e})"


def _same_scores(x, y, contender: str) -> bool:
    import numpy as np

    def equal(a, b) -> bool:
        return (a is None) == (b is None) and (a is None or np.array_equal(a, b, equal_nan=True))

    return equal(x.scores.get(contender), y.scores.get(contender)) and equal(x.ranks.get(contender),
                                                                             y.ranks.get(contender))


def paired_run_deltas(a: Any, b: Any, *, n_resamples: int = 1000, seed: int = 0,
                      level: float = 0.95) -> RunPairDeltas:
    """Run B - run A (registry Runs) for each contender both kept scores for, with the interval of a paired
    bootstrap over test users (`pipeline.training.bootstrap.compare_runs_ci`); contenders scored identically by both
    runs
    are left out and named in `unchanged`. Without intervals (a run predates them, its file is missing, the runs
    were evaluated on different rows) the frame is empty and `reason` says why, in one line."""
    from pipeline.training.bootstrap import compare_runs_ci

    loaded = {}
    for run in (a, b):
        scores, why = load_eval_scores(run)
        if scores is None:
            return RunPairDeltas(pd.DataFrame(columns=PAIR_COLUMNS), f"no interval: {why}")
        loaded[run.id] = scores
    sa, sb = loaded[a.id], loaded[b.id]
    if sa.key() != sb.key():
        return RunPairDeltas(pd.DataFrame(columns=PAIR_COLUMNS),
                             "no interval: the two runs were evaluated on different test rows (other prepared data "
                             "or evaluation seed)")
    shared = [c for c in ordered_contenders(dict.fromkeys(sb.contenders)) if c in sa.contenders]
    unchanged = tuple(c for c in shared if _same_scores(sa, sb, c))
    label_a, label_b = f"run {a.id}", f"run {b.id}"
    rows = []
    for contender in shared:
        if contender in unchanged:
            continue
        try:
            out = compare_runs_ci(sb, sa, contender=contender, labels=(label_b, label_a), n_resamples=n_resamples,
                                  seed=seed, level=level)
        except ValueError as e:
            return RunPairDeltas(pd.DataFrame(columns=PAIR_COLUMNS), f"no interval: {e}")
        point = out["point"]
        for metric, entry in out["deltas"][label_a].items():
            bounds = _bounds(entry.get("ci"))
            lo, hi = bounds if bounds else (math.nan, math.nan)
            flag = entry.get("significant") if isinstance(entry.get("significant"), bool) else None
            said = verdict(*(bounds or (None, None)), flag)
            rows.append((contender, contender_name(contender), metric, METRICS.get(metric, metric),
                         _number(point[label_a].get(metric)), _number(point[label_b].get(metric)),
                         _number(entry.get("delta")), lo, hi, None if bounds is None else said == SIGNIFICANT,
                         said))
    return RunPairDeltas(pd.DataFrame(rows, columns=PAIR_COLUMNS), None, unchanged)


def pair_settings(metrics: Mapping[str, Any] | None) -> dict[str, Any]:
    """n_resamples, seed and level for comparing two runs: those the newer run's intervals used, else defaults."""
    b = (metrics or {}).get("bootstrap") or {}
    return {"n_resamples": int(b.get("n_resamples", 1000)), "seed": int(b.get("seed", 0)),
            "level": float(b.get("level", 0.95))}
