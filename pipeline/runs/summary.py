"""Runs as data: a run's row in a list, two runs compared (params, LF config diff, metric deltas), the small
value helpers behind them. `python -m pipeline runs` formats these as text; the workbench's Runs and Train pages
draw them."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any

from pipeline.runs.registry import Run

__all__ = ["HEADLINE_METRICS", "KEY_METRICS", "NOT_COMPARED", "OUR_MODEL", "PROMOTION_RESULT", "Comparison",
           "compare_runs", "flatten", "fmt_time", "is_number", "key_metric", "lf_changes", "promotion_outcome",
           "run_row"]

# the figures of our model shown in `runs list`: (column title, metric name inside the "ours" contender)
KEY_METRICS = (("F1", "f1"), ("ROC-AUC", "roc_auc"), ("HR@10", "hr@10"))
OUR_MODEL = "ours"
# figures of the "metrics" result that `runs compare` does not subtract: each run's own deltas (ours - other), the
# id of the run it compared itself with and its bootstrap settings
NOT_COMPARED = ("deltas.", "previous_run", "bootstrap.")
# the result holding a succeeded run's promotion outcome (pipeline.runs.promotion): {"promoted", "reason", ...}
PROMOTION_RESULT = "promotion"
# Our model's headline metrics (key -> title): what promotion guards and what an impact study's table shows.
HEADLINE_METRICS = {"f1": "F1", "roc_auc": "ROC-AUC", "hr@10": "HR@10", "ndcg@10": "NDCG@10"}


def promotion_outcome(results: dict[str, Any]) -> str | None:
    """A run's promotion outcome in a few words ("first model", "not promoted: ..."), None when not recorded."""
    outcome = results.get(PROMOTION_RESULT)
    if not isinstance(outcome, dict) or not outcome.get("reason"):
        return None
    return str(outcome["reason"])


def is_number(value: Any) -> bool:
    """Ints and floats, not bools: what a metric table shows and subtracts."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Nested dicts as one level with dotted keys: {"ours": {"f1": 0.7}} -> {"ours.f1": 0.7}. Lists stay leaves."""
    if not isinstance(value, dict):
        return {prefix: value} if prefix else {}
    flat: dict[str, Any] = {}
    for key, item in value.items():
        flat.update(flatten(item, f"{prefix}.{key}" if prefix else str(key)))
    return flat


def key_metric(metrics: Any, name: str, model: str = OUR_MODEL) -> float | None:
    """Metric `name` of contender `model`, wherever the metrics nest it: metrics[model][name] first, otherwise
    any dotted path with `model` among its parts and `name` last (e.g. "ranking.ours.hr@10"). None if absent."""
    flat = flatten(metrics) if isinstance(metrics, dict) else {}
    exact = flat.get(f"{model}.{name}")
    if is_number(exact):
        return exact
    for path, value in flat.items():
        parts = path.split(".")
        if parts[-1] == name and model in parts[:-1] and is_number(value):
            return value
    return None


def fmt_time(iso: str | None) -> str:
    """An ISO time as "YYYY-MM-DD HH:MM:SS" (UTC), "-" when unset."""
    return "-" if iso is None else iso[:19].replace("T", " ")


def run_row(run: Run, metrics: Any) -> dict[str, Any]:
    """One run as a row of `runs list`: id, status, created (UTC, to the second), duration (seconds or None),
    stage, LF config (short hash), note, and our model's KEY_METRICS (None where absent) from its "metrics"."""
    return {"id": run.id, "status": run.status, "created": fmt_time(run.created_at), "duration": run.duration(),
            "stage": run.stage_text() if run.is_active else (run.stage or "-"), "LF config": run.short_hash,
            "note": run.note, **{title: key_metric(metrics, name) for title, name in KEY_METRICS}}


@dataclass(frozen=True)
class Comparison:
    """Run B against run A, as data (see `compare_runs`)."""

    a: Run
    b: Run
    params: list[tuple[str, Any, Any]]  # (param, in A, in B) for each flattened param that differs
    config_diff: list[str]  # unified diff of the LF config TOML texts A -> B (lines); empty when identical
    lf_changes: Any  # lfs.store.ConfigChanges by LF name, None when a config cannot be read
    metrics: list[tuple[str, Any, Any, Any]]  # (metric, A, B, B - A) for each number recorded in both
    metrics_a: Any = None  # the runs' "metrics" results as given
    metrics_b: Any = None

    @property
    def same_dataset(self) -> bool:
        return self.a.dataset_fingerprint == self.b.dataset_fingerprint


def lf_changes(toml_a: str, toml_b: str):
    """The LFs (by name) config B adds, removes and changes relative to config A (TOML texts), as
    lfs.store.ConfigChanges; None when either text is not a valid config."""
    from lfs.config import parse_config
    from lfs.store import ConfigChanges

    try:
        return ConfigChanges.between(parse_config(toml_a, source="run A"), parse_config(toml_b, source="run B"))
    except ValueError:
        return None


def compare_runs(a: Run, b: Run, metrics_a: Any, metrics_b: Any) -> Comparison:
    """Params that differ, the LF config diff and every metric's delta B - A: what `runs compare` prints."""
    params_a, params_b = flatten(a.params), flatten(b.params)
    missing = "(unset)"
    pairs = {k: (params_a.get(k, missing), params_b.get(k, missing)) for k in sorted(params_a.keys() | params_b.keys())}
    diff = [] if a.lf_config_toml == b.lf_config_toml else list(difflib.unified_diff(
        a.lf_config_toml.splitlines(), b.lf_config_toml.splitlines(), fromfile=f"run {a.id} ({a.short_hash})",
        tofile=f"run {b.id} ({b.short_hash})", lineterm=""))
    flat_a, flat_b = flatten(metrics_a), flatten(metrics_b)
    shared = [k for k in flat_a if k in flat_b and is_number(flat_a[k]) and is_number(flat_b[k])
              and not k.startswith(NOT_COMPARED)]
    return Comparison(a=a, b=b, params=[(k, va, vb) for k, (va, vb) in pairs.items() if va != vb], config_diff=diff,
                      lf_changes=lf_changes(a.lf_config_toml, b.lf_config_toml),
                      metrics=[(k, flat_a[k], flat_b[k], flat_b[k] - flat_a[k]) for k in shared],
                      metrics_a=metrics_a, metrics_b=metrics_b)
