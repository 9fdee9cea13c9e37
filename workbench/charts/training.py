"""Frames and charts of a retrain's results: training curves, test metrics beside the baselines, LF weights.

Inputs are what the run registry stores (pipeline.runs.retrain): ``Registry.epochs(run_id)`` (columns model, epoch and
one per logged figure, e.g. loss / val_loss / auc / val_auc; concatenate several runs with a ``run`` column to
overlay them), the "metrics" result (``{"contenders": {"ours": {"f1": ...}, "seed_replica": ..., ...}}``) and the
"label_model" result (``{"label_model": {...}, "majority_vote": {...}, "weights": [{"lf", "learned_weight",
"emp_acc"}]}``). Intervals and deltas come as tidy frames from pipeline.runs.comparisons (the CLI prints the same);
this module lays them out for the pages. No streamlit here, so tests check the frames and chart specs directly.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import altair as alt
import pandas as pd

from pipeline.runs import comparisons

# contenders of the metrics result in display order, with their display names, and the test metrics' titles
CONTENDERS = comparisons.CONTENDERS
METRICS = comparisons.METRICS
MODELS = {"ours": "our model", "seed_replica": "seed replica"}  # models whose epochs are logged
LOWER_IS_BETTER = frozenset({"log_loss"})
BAR_METRICS = ("f1", "roc_auc", "hr@10", "ndcg@10")
INTERVAL_CHART_METRICS = ("hr@10", "ndcg@10", "roc_auc", "f1")
CURVE_FIGURES = {"loss": "loss (binary cross-entropy)", "auc": "ROC-AUC"}  # logged per epoch, train and val_
LABEL_MODEL_ROWS = {"label_model": "label model", "majority_vote": "majority vote"}
LABEL_MODEL_COLUMNS = {"accuracy": "accuracy", "f1": "F1", "coverage": "coverage", "rows": "rows voted on"}


def _number(value: Any) -> float | None:
    """A finite float, or None for a missing, non-numeric or NaN figure."""
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        return None
    return float(value)


def inline(frame: pd.DataFrame) -> alt.Data:
    """`frame` as data inside the chart's spec rather than a named dataset: Streamlit then sends it as the chart's
    one unnamed data set and keeps the spec the same while the data changes, so a chart redrawn every second with
    new epochs updates its data in place (named data sets change the spec's data name with every update, and the
    browser's view sometimes receives the new name before it is rebuilt: "Unrecognized data set")."""
    return alt.Data(values=frame.astype(object).where(frame.notna(), None).to_dict(orient="records"))


def contender_name(key: str) -> str:
    return CONTENDERS.get(key, key)


# --------------------------------------------------------------------------------------------------------------
# test metrics


def metrics_frame(metrics: Mapping[str, Any], previous: Mapping[str, Any] | None = None,
                  previous_label: str = "previous run") -> pd.DataFrame:
    """Contenders (rows) x test metrics (columns) as text: each figure with its 95% interval, e.g.
    "0.4348 [0.3900, 0.4800]" (the figure alone when the run recorded no interval); "–" where a contender lacks
    a figure. `previous` (an earlier run's "metrics") adds a row with that run's model. The index holds the
    display names."""
    frame = comparisons.metric_frame(metrics, previous, previous_label)
    names = [contender_name(k) for k in comparisons.ordered_contenders(metrics.get("contenders", {}))]
    if (frame["key"] == comparisons.PREVIOUS).any():
        names.append(previous_label)
    cells = {name: {title: "–" for title in METRICS.values()} for name in names}
    for r in frame.itertuples(index=False):
        cells[r.name][r.title] = comparisons.value_text(r.value, r.lo, r.hi)
    return pd.DataFrame.from_dict(cells, orient="index", columns=list(METRICS.values()))


def deltas_frame(deltas: pd.DataFrame) -> pd.DataFrame:
    """pipeline.runs.comparisons.delta_frame laid out for a page: our model minus each contender and minus the
    previous run's model (rows, "vs seed replica", ...) x metrics (columns), as text: "+0.0500 [+0.0100,
    +0.0900]", with "not significant" appended where the interval covers 0, the delta alone without an interval,
    "–" where a figure is missing."""
    titles = [METRICS[m] for m in comparisons.DELTA_METRICS]
    cells: dict[str, dict[str, str]] = {}
    for r in deltas.itertuples(index=False):
        row = cells.setdefault(f"vs {r.name}", dict.fromkeys(titles, "–"))
        row[r.title] = comparisons.delta_text(r.delta, r.lo, r.hi, r.significant)
    return pd.DataFrame.from_dict(cells, orient="index", columns=titles)


def delta_notes(deltas: pd.DataFrame) -> list[str]:
    """The distinct reasons some delta of a comparisons.delta_frame has no interval ("no interval (run predates
    intervals)", ...)."""
    return list(dict.fromkeys(deltas.loc[deltas["significant"].isna(), "verdict"]))


def metric_deltas(metrics: Mapping[str, Any], previous: Mapping[str, Any] | None,
                  names: Sequence[str] = BAR_METRICS,
                  intervals: Mapping[str, tuple[float, float, bool]] | None = None) -> list[dict[str, Any]]:
    """Our model's figures and their change since `previous` (None without an earlier run or figure):
    [{"metric", "title", "value", "delta", "lower_is_better", "interval", "significant"}], in `names` order,
    figures ours lacks skipped. `intervals` ({metric: (lo, hi, significant)}) gives the change's interval
    (None without one)."""
    ours = metrics.get("contenders", {}).get("ours", {})
    before = (previous or {}).get("contenders", {}).get("ours", {})
    out = []
    for name in names:
        value = _number(ours.get(name))
        if value is None:
            continue
        old = _number(before.get(name))
        lo, hi, significant = (intervals or {}).get(name, (None, None, None))
        out.append({"metric": name, "title": METRICS.get(name, name), "value": value,
                    "delta": None if old is None else value - old, "lower_is_better": name in LOWER_IS_BETTER,
                    "interval": None if lo is None or old is None else (lo, hi),
                    "significant": None if lo is None or old is None else bool(significant)})
    return out


def delta_label(figure: Mapping[str, Any]) -> str | None:
    """A metric card's delta text: "+0.0500", and " · not significant" when its interval covers 0."""
    if figure["delta"] is None:
        return None
    return f"{figure['delta']:+.4f}" + (f" · {comparisons.NOT_SIGNIFICANT}" if figure["significant"] is False else "")


def interval_frame(metrics: Mapping[str, Any], names: Sequence[str] = INTERVAL_CHART_METRICS) -> pd.DataFrame:
    """contender, metric (title), value, lo, hi (None without an interval): the figures `interval_chart` draws."""
    frame = comparisons.metric_frame(metrics)
    frame = frame[frame["metric"].isin(names)]
    return pd.DataFrame({"contender": frame["name"], "metric": frame["title"], "value": frame["value"],
                         "lo": frame["lo"], "hi": frame["hi"]}).reset_index(drop=True)


def interval_chart(metrics: Mapping[str, Any], names: Sequence[str] = INTERVAL_CHART_METRICS) -> alt.FacetChart:
    """One panel per metric: each contender's figure as a dot with its 95% interval as a line (a dot alone
    when the run recorded no interval)."""
    frame = interval_frame(metrics, names)
    order = [contender_name(k) for k in comparisons.ordered_contenders(metrics.get("contenders", {}))]
    y = alt.Y("contender:N", sort=order, title=None)
    color = alt.Color("contender:N", sort=order, legend=None)
    tooltip = ["contender:N", "metric:N", alt.Tooltip("value:Q", format=".4f"),
               alt.Tooltip("lo:Q", format=".4f", title="95% low"), alt.Tooltip("hi:Q", format=".4f", title="95% high")]
    rules = alt.Chart().mark_rule(strokeWidth=2).encode(
        x=alt.X("lo:Q", title=None, scale=alt.Scale(zero=False)), x2="hi:Q", y=y, color=color, tooltip=tooltip)
    dots = alt.Chart().mark_point(filled=True, size=70).encode(x=alt.X("value:Q", title=None), y=y, color=color,
                                                               tooltip=tooltip)
    return alt.layer(rules, dots, data=inline(frame)).properties(width=170).facet(
        column=alt.Column("metric:N", sort=[METRICS.get(n, n) for n in names], title=None)
    ).resolve_scale(x="independent")


# --------------------------------------------------------------------------------------------------------------
# label model


def label_model_frame(report: Mapping[str, Any]) -> pd.DataFrame:
    """Label model and majority vote on dev: accuracy, F1 (over the rows each votes on), coverage, rows."""
    table = {LABEL_MODEL_ROWS[k]: {title: report.get(k, {}).get(col) for col, title in LABEL_MODEL_COLUMNS.items()}
             for k in LABEL_MODEL_ROWS if k in report}
    return pd.DataFrame.from_dict(table, orient="index", columns=list(LABEL_MODEL_COLUMNS.values()))


def weights_frame(report: Mapping[str, Any]) -> pd.DataFrame:
    """lf, learned_weight, emp_acc (None where the LF votes on no labelled dev row), in the config's LF order."""
    rows = [{"lf": w["lf"], "learned_weight": _number(w.get("learned_weight")), "emp_acc": _number(w.get("emp_acc"))}
            for w in report.get("weights", [])]
    return pd.DataFrame.from_records(rows, columns=["lf", "learned_weight", "emp_acc"])


def weights_chart(report: Mapping[str, Any]) -> alt.Chart:
    """Each LF's learned weight (the label model's estimate of its accuracy) against its empirical accuracy on
    dev, with the diagonal where the two agree: above it the label model trusts an LF more than dev does."""
    frame = weights_frame(report).dropna()
    diagonal = alt.Chart().mark_rule(strokeDash=[4, 4], color="#9e9e9e").encode(
        x=alt.datum(0.0), y=alt.datum(0.0), x2=alt.datum(1.0), y2=alt.datum(1.0))
    x = alt.X("emp_acc:Q", title="empirical accuracy on dev", scale=alt.Scale(domain=[0, 1]))
    y = alt.Y("learned_weight:Q", title="label model weight", scale=alt.Scale(domain=[0, 1]))
    base = alt.Chart().encode(x=x, y=y)
    points = base.mark_circle(size=90).encode(
        tooltip=[alt.Tooltip("lf:N", title="LF"), alt.Tooltip("learned_weight:Q", format=".3f", title="weight"),
                 alt.Tooltip("emp_acc:Q", format=".3f", title="emp. acc.")])
    labels = base.mark_text(align="left", dx=7, dy=-7).encode(text="lf:N")
    return alt.layer(diagonal, points, labels, data=inline(frame)).properties(
        title="LF weights against empirical accuracy")


# --------------------------------------------------------------------------------------------------------------
# training curves


def curve_frame(epochs: pd.DataFrame, figure: str) -> pd.DataFrame:
    """Long frame of one logged figure: series (model, or "run N · model" when `epochs` holds several runs),
    split ("train" for `figure`, "val" for `val_<figure>`), epoch, value."""
    columns = ["series", "split", "epoch", "value"]
    if epochs is None or epochs.empty:
        return pd.DataFrame(columns=columns)
    several = "run" in epochs.columns and epochs["run"].nunique() > 1
    parts = []
    for split, column in (("train", figure), ("val", f"val_{figure}")):
        if column not in epochs.columns:
            continue
        part = epochs[["model", "epoch", column] + (["run"] if several else [])].dropna(subset=[column])
        names = part["model"].map(lambda m: MODELS.get(m, m))
        series = ("run " + part["run"].astype(str) + " · " + names) if several else names
        parts.append(pd.DataFrame({"series": series, "split": split, "epoch": part["epoch"].astype(int),
                                   "value": part[column].astype(float)}))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=columns)


def curve_chart(epochs: pd.DataFrame, figure: str = "loss") -> alt.Chart:
    """One logged figure per epoch: a colour per model (and run), solid for train, dashed for val."""
    frame = curve_frame(epochs, figure)
    return alt.Chart(inline(frame), title=CURVE_FIGURES.get(figure, figure)).mark_line(point=True).encode(
        x=alt.X("epoch:Q", title="epoch", axis=alt.Axis(tickMinStep=1, format="d")),
        y=alt.Y("value:Q", title=None, scale=alt.Scale(zero=False)),
        color=alt.Color("series:N", title="model"),
        strokeDash=alt.StrokeDash("split:N", title="split", sort=["train", "val"]),
        tooltip=["series:N", "split:N", "epoch:Q", alt.Tooltip("value:Q", format=".4f")],
    )


def runs_epochs(frames: Mapping[int, pd.DataFrame]) -> pd.DataFrame:
    """{run id: Registry.epochs(run id)} as one frame with a `run` column, for curves overlaying several runs."""
    parts = [frame.assign(run=run_id) for run_id, frame in frames.items() if not frame.empty]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["model", "epoch", "run"])
