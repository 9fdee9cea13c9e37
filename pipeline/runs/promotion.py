"""Which succeeded run becomes the model in use: the rule applied when a retrain succeeds.

`finish_succeeded(registry, run_id)` runs in the job process when the job function returned
(pipeline.runs.jobs.run_job), its metrics already stored: it decides, then marks the run succeeded and (if so)
puts it in use in one transaction. `apply_rule` decides on a run already recorded as succeeded. The rule:

- no model is in use yet: the run becomes it ("first model"), whatever the setting below;
- the run's params say ``auto_promote: false`` (`python -m pipeline retrain --no-auto-promote`, or the Train page's
  checkbox): it is kept, "not promoted: auto-promotion off";
- a run of an impact study (pipeline.runs.study) is kept: it measures an LF, it is not meant to serve;
- otherwise it is promoted unless it is worse than the model in use on any of `PROMOTION_METRICS` (our model's):
  worse means the 95% paired-bootstrap interval of the delta (new - in use, `comparisons.paired_run_deltas`)
  lies entirely below 0 where there is an interval, else plainly new < in use. Promoted: "auto: not worse than
  run N"; kept: "not promoted: worse on F1, HR@10 than run N".

The outcome is the run's "promotion" result ({"promoted", "reason", "compared_with"}); a promotion the registry
refuses (its model file is missing) is recorded as not promoted with the registry's reason.
"""

from __future__ import annotations

import math
from typing import Any

from pipeline.runs import comparisons
from pipeline.runs.registry import InvalidTransition, Registry, Run, model_file_refusal
from pipeline.runs.summary import HEADLINE_METRICS, PROMOTION_RESULT, key_metric

__all__ = ["FIRST_MODEL", "PROMOTION_METRICS", "apply_rule", "decide", "finish_succeeded", "worse_on"]

# our model's metrics a new run must not be worse on: metric key -> title
PROMOTION_METRICS = HEADLINE_METRICS
FIRST_MODEL = "first model"
AUTO = "auto"


def worse_on(registry: Registry, in_use: Run, new: Run) -> list[str]:
    """The titles of PROMOTION_METRICS on which `new`'s model is worse than `in_use`'s (see the module)."""
    metrics_new = registry.results(new.id).get("metrics")
    metrics_old = registry.results(in_use.id).get("metrics")
    paired = comparisons.paired_run_deltas(in_use, new, **comparisons.pair_settings(metrics_new))
    if paired.reason is None and comparisons.REFERENCE in paired.unchanged:
        return []  # both runs scored our model identically: every delta is 0
    found = paired.lookup() if paired.reason is None else {}
    worse = []
    for metric, title in PROMOTION_METRICS.items():
        row = found.get((comparisons.REFERENCE, metric))
        if row is not None and not (math.isnan(row["lo"]) or math.isnan(row["hi"])):
            if row["hi"] < 0:
                worse.append(title)
            continue
        a, b = key_metric(metrics_old, metric), key_metric(metrics_new, metric)
        if a is not None and b is not None and not (math.isnan(a) or math.isnan(b)) and b < a:
            worse.append(title)
    return worse


def decide(registry: Registry, run: Run) -> tuple[bool, str, int | None]:
    """(promote?, the reason, the run in use it was compared with) for run `run`, succeeded or about to be."""
    current = registry.current_model()
    if current is not None and current.id == run.id:
        return False, "already the model in use", current.id
    compared = None if current is None else current.id
    refused = model_file_refusal(run)
    if refused is not None:
        return False, f"not promoted: {refused}", compared
    if current is None:
        return True, FIRST_MODEL, None
    if run.group_id is not None:
        return False, f"not promoted: a run of impact study {run.group_id}", compared
    if not (run.params or {}).get("auto_promote", True):
        return False, "not promoted: auto-promotion off", compared
    worse = worse_on(registry, current, run)
    if worse:
        return False, f"not promoted: worse on {', '.join(worse)} than run {current.id}", compared
    return True, f"auto: not worse than run {current.id}", compared


def _record(registry: Registry, run_id: int, promoted: bool, reason: str, compared: int | None) -> dict[str, Any]:
    outcome = {"promoted": promoted, "reason": reason, "compared_with": compared}
    registry.put_result(run_id, PROMOTION_RESULT, outcome)
    return outcome


def apply_rule(registry: Registry, run_id: int) -> dict[str, Any]:
    """Decide on succeeded run `run_id`, promote it if so, and record the outcome as its "promotion" result."""
    run = registry.get(run_id)
    promoted, reason, compared = decide(registry, run)
    if promoted:
        try:
            registry.promote(run.id, reason, AUTO)
        except ValueError as e:
            promoted, reason = False, f"not promoted: {e}"
    return _record(registry, run.id, promoted, reason, compared)


def finish_succeeded(registry: Registry, run_id: int) -> dict[str, Any]:
    """The job's end of a run that succeeded: decide (its metrics are recorded), record the outcome, then mark it
    succeeded and, if promoted, put it in use, both in one transaction (Registry.finish). A failure to decide
    leaves the model in use as it was and is recorded as the reason; InvalidTransition when the run is no longer
    running (cancelled or reaped meanwhile)."""
    try:
        promoted, reason, compared = decide(registry, registry.get(run_id, reap=False))
    except Exception as e:  # noqa: BLE001 - the run is trained; only the choice of model failed
        promoted, reason, compared = False, f"not promoted: the promotion rule failed ({type(e).__name__}: {e})", None
    outcome = _record(registry, run_id, promoted, reason, compared)
    try:
        registry.finish(run_id, "succeeded", in_use_reason=reason if promoted else None, by=AUTO)
    except InvalidTransition:
        raise
    except ValueError as e:  # its model file went missing in between: succeeded, not in use
        outcome = _record(registry, run_id, False, f"not promoted: {e}", compared)
        registry.finish(run_id, "succeeded")
    return outcome
