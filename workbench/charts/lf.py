"""Charts of the Labeling functions page, built from lfs.analysis frames (no streamlit here).

Each builder takes the small frame the analysis already made (one row per LF, per threshold or per keyword) and
returns an altair chart; nothing here sees the split's rows, so the charts stay light at any scale.
"""

from __future__ import annotations

import json

import altair as alt
import numpy as np
import pandas as pd

from lfs.spec import LABEL_NAMES


def stable_spec(chart: alt.TopLevelMixin) -> dict:
    """The chart as a Vega-Lite spec whose datasets are named by position ("data-0", ...), not by a hash of their
    content as altair (and st.altair_chart) name them.

    So when only the figures change (an edit), the spec stays the same and the browser swaps the data into the
    chart it has instead of building a new one. The builders here are checked against the schema in the tests, so
    the spec is not validated again on every run; altair's default theme (a 300 px view) is left out.
    """
    spec = chart.to_dict(validate=False)
    config = spec.get("config", {})
    config.pop("view", None)
    if not config:
        spec.pop("config", None)
    text = json.dumps(spec)
    for i, name in enumerate(spec.get("datasets", {})):
        text = text.replace(json.dumps(name), json.dumps(f"data-{i}"))
    return json.loads(text)


def chart_values(frame: pd.DataFrame) -> list[dict]:
    """The rows of `frame` as a spec made by `stable_spec` holds them (altair's data transformer, through JSON)."""
    return json.loads(json.dumps(alt.data_transformers.get()(frame)["values"]))


def with_datasets(spec: dict, frames: dict[int, pd.DataFrame]) -> dict:
    """`spec` (from `stable_spec`) with its datasets "data-{i}" holding the rows of `frames[i]` instead.

    A chart's spec depends on its figures only through its datasets, so the spec of a chart drawn from new figures
    is the spec of the same chart drawn from others with the new rows put in: an edit then converts its small frames
    instead of building and serializing the whole chart again (the tests hold both ways equal).
    """
    datasets = dict(spec["datasets"])
    for i, frame in frames.items():
        name = f"data-{i}"
        if name not in datasets:
            raise KeyError(f"the spec has no dataset {name} (it has {', '.join(datasets)})")
        datasets[name] = chart_values(frame)
    return {**spec, "datasets": datasets}


LABEL_COLORS = alt.Scale(domain=["negative", "positive", "both"], range=["#d62728", "#2ca02c", "#1f77b4"])


def _votes(polarity) -> str:
    """snorkel's Polarity (the labels an LF emitted) as one word: negative, positive, both or none."""
    labels = sorted(int(v) for v in polarity) if isinstance(polarity, list | tuple | np.ndarray) else []
    if len(labels) > 1:
        return "both"
    return LABEL_NAMES.get(labels[0], str(labels[0])) if labels else "none"


def lf_points(summary: pd.DataFrame) -> pd.DataFrame:
    """One row per LF of an lf_summary with gold: lf, votes, coverage, labelled, accuracy and its 95% interval."""
    frame = pd.DataFrame({
        "lf": summary.index.astype(str),
        "votes": [_votes(p) for p in summary.get("Polarity", pd.Series([[]] * len(summary)))],
        "coverage": summary["Coverage"].to_numpy(dtype=float),
    })
    for out, col in (("labelled", "Labelled"), ("accuracy", "Emp. Acc."), ("acc_low", "Acc. low"),
                     ("acc_high", "Acc. high")):
        frame[out] = summary[col].to_numpy(dtype=float) if col in summary else np.nan
    frame.loc[frame["labelled"] == 0, "accuracy"] = np.nan  # snorkel's 0.0 for an LF that never voted on gold
    return frame


def coverage_accuracy(summary: pd.DataFrame) -> alt.LayerChart:
    """Coverage against empirical accuracy, one point per LF with its 95% interval as a vertical bar."""
    frame = lf_points(summary)
    base = alt.Chart(frame, title="Coverage vs accuracy on dev (bars: 95% interval)").encode(
        x=alt.X("coverage:Q", title="coverage", axis=alt.Axis(format="%")),
        color=alt.Color("votes:N", scale=LABEL_COLORS, title="votes", legend=alt.Legend(orient="bottom")),
        tooltip=[alt.Tooltip("lf:N"), alt.Tooltip("coverage:Q", format=".2%"), alt.Tooltip("accuracy:Q", format=".1%"),
                 alt.Tooltip("acc_low:Q", format=".1%"), alt.Tooltip("acc_high:Q", format=".1%"),
                 alt.Tooltip("labelled:Q", format=",")],
    )
    y = alt.Y("accuracy:Q", title="empirical accuracy", scale=alt.Scale(domain=[0, 1]), axis=alt.Axis(format="%"))
    bars = base.mark_rule().encode(y=alt.Y("acc_low:Q", scale=alt.Scale(domain=[0, 1])), y2=alt.Y2("acc_high"))
    points = base.mark_circle(size=80).encode(y=y)
    labels = base.mark_text(align="left", dx=7, dy=-7).encode(y=y, text=alt.Text("lf:N"))
    return alt.layer(bars, points, labels)


def sweep_chart(sweep: pd.DataFrame, value: float, *, name: str, feature: str, op: str,
                current: dict | None = None, tag: str = "current") -> alt.LayerChart:
    """Coverage and accuracy of a threshold LF as its value moves (lfs.analysis.threshold_sweep), the accuracy's
    95% interval as a band, and a rule at the current `value` (with `current` = {"coverage", "accuracy"}, the LF's
    live figures, as points on it; `tag` names the rule: "current", or "autotuned" when autotune set it)."""
    long = sweep.melt(id_vars=["threshold"], value_vars=[c for c in ("coverage", "accuracy") if c in sweep],
                      var_name="figure", value_name="share")
    x = alt.X("threshold:Q", title=f"{feature} threshold ({op})")
    y = alt.Y("share:Q", title="share", scale=alt.Scale(domain=[0, 1]), axis=alt.Axis(format="%"))
    color = alt.Color("figure:N", scale=alt.Scale(domain=["coverage", "accuracy"], range=["#1f77b4", "#ff7f0e"]))
    lines = alt.Chart(long).mark_line().encode(
        x=x, y=y, color=color,
        tooltip=[alt.Tooltip("threshold:Q", format=".3~f"), alt.Tooltip("figure:N"),
                 alt.Tooltip("share:Q", format=".2%")])
    layers = []
    if {"acc_low", "acc_high"} <= set(sweep.columns):
        layers.append(alt.Chart(sweep).mark_area(opacity=0.2, color="#ff7f0e").encode(
            x=x, y=alt.Y("acc_low:Q", scale=alt.Scale(domain=[0, 1])), y2=alt.Y2("acc_high")))
    layers.append(lines)
    marker = _sweep_marker(value, current, tag)
    rule = alt.Chart(marker[0]).mark_rule(color="black", strokeDash=[4, 3]).encode(
        x=alt.X("threshold:Q"), tooltip=[alt.Tooltip("label:N")])
    layers.append(rule)
    if current:
        layers.append(alt.Chart(marker[1]).mark_point(size=90, filled=True).encode(x=x, y=y, color=color))
    return alt.layer(*layers, title=f"{name} as the threshold moves")


def _sweep_marker(value: float, current: dict | None, tag: str = "current") -> list[pd.DataFrame]:
    """The data of sweep_chart's marker, its last layers: the rule at `value`, and the live figures on it."""
    frames = [pd.DataFrame({"threshold": [float(value)], "label": [f"{tag} {value:g}"]})]
    if current:
        frames.append(pd.DataFrame({"threshold": float(value), "figure": list(current),
                                    "share": list(current.values())}))
    return frames


def sweep_spec(base: dict, value: float, current: dict | None = None, tag: str = "current") -> dict:
    """The stable spec of `sweep_chart(sweep, value, current=current, ...)` from `base`, the stable spec of
    `sweep_chart` with the same sweep, name, feature and op and `current` figures of the same names, at any value:
    only the marker's datasets (the last ones) differ, so an edit of the threshold rebuilds only those."""
    marker = _sweep_marker(value, current, tag)
    first = len(base["datasets"]) - len(marker)
    return with_datasets(base, {first + i: frame for i, frame in enumerate(marker)})


def pair_frame(overlap: pd.DataFrame, conflict: pd.DataFrame) -> pd.DataFrame:
    """The two LF x LF matrices of lfs.analysis.pair_matrices as rows: lf_a, lf_b, overlap, conflict."""
    names = [str(n) for n in overlap.index]
    a, b = np.meshgrid(np.arange(len(names)), np.arange(len(names)), indexing="ij")
    return pd.DataFrame({"lf_a": np.asarray(names, dtype=object)[a.ravel()],
                         "lf_b": np.asarray(names, dtype=object)[b.ravel()],
                         "overlap": overlap.to_numpy(dtype=float).ravel(),
                         "conflict": conflict.to_numpy(dtype=float).ravel()})


def pair_heatmap(overlap: pd.DataFrame, conflict: pd.DataFrame) -> alt.VConcatChart:
    """Two heatmaps, LF x LF, one above the other: the share of rows both LFs vote on, and the share where they
    disagree."""
    frame = pair_frame(overlap, conflict)
    order = [str(n) for n in overlap.index]
    tooltip = [alt.Tooltip("lf_a:N"), alt.Tooltip("lf_b:N"), alt.Tooltip("overlap:Q", format=".2%"),
               alt.Tooltip("conflict:Q", format=".2%")]

    def one(figure: str, scheme: str) -> alt.Chart:
        return alt.Chart(frame, title=f"{figure} (share of dev rows)").mark_rect().encode(
            x=alt.X("lf_b:N", sort=order, title=None), y=alt.Y("lf_a:N", sort=order, title=None),
            color=alt.Color(f"{figure}:Q", scale=alt.Scale(scheme=scheme), legend=alt.Legend(format="%")),
            tooltip=tooltip)

    return alt.vconcat(one("overlap", "blues"), one("conflict", "reds")).resolve_scale(color="independent")


def keyword_chart(stats: pd.DataFrame, name: str) -> alt.VConcatChart:
    """Per keyword of a keyword LF (lfs.analysis.keyword_stats): rows it decides (bars; lighter: rows that contain
    it), and below, the accuracy of its votes with the 95% interval."""
    frame = stats.copy()
    frame["vote"] = frame["label"].map(LABEL_NAMES)
    frame["rule"] = frame["rule"] + 1
    order = frame["keyword"].tolist()
    y = alt.Y("keyword:N", sort=order, title=None)
    tooltip = [alt.Tooltip("keyword:N"), alt.Tooltip("rule:O"), alt.Tooltip("vote:N"),
               alt.Tooltip("hits:Q", format=","), alt.Tooltip("decides:Q", format=",")]
    if "accuracy" in frame:
        tooltip += [alt.Tooltip("labelled:Q", format=","), alt.Tooltip("accuracy:Q", format=".1%")]
    base = alt.Chart(frame).encode(y=y, tooltip=tooltip)
    hits = base.mark_bar(opacity=0.3).encode(x=alt.X("hits:Q", title="rows (bar: decides; light: contains)"),
                                             color=alt.Color("vote:N", scale=LABEL_COLORS, title="votes"))
    decides = base.mark_bar().encode(x=alt.X("decides:Q"), color=alt.Color("vote:N", scale=LABEL_COLORS))
    counts = alt.layer(hits, decides, title=f"{name}: rows per keyword")
    if "accuracy" not in frame:
        return alt.vconcat(counts)
    acc_x = alt.X("accuracy:Q", title="accuracy where it decides", scale=alt.Scale(domain=[0, 1]),
                  axis=alt.Axis(format="%"))
    interval = base.mark_rule().encode(x=alt.X("acc_low:Q", scale=alt.Scale(domain=[0, 1])), x2=alt.X2("acc_high"))
    points = base.mark_circle(size=60).encode(x=acc_x, color=alt.Color("vote:N", scale=LABEL_COLORS))
    return alt.vconcat(counts, alt.layer(interval, points, title="accuracy (95% interval)"))


def summary_frame(now: pd.DataFrame, saved: pd.DataFrame | None = None) -> pd.DataFrame:
    """The LF table of the page: lf_summary (with gold) of the working copy, one row per enabled LF, with the
    change of coverage and accuracy against the saved version in percentage points (NaN for an LF the saved
    version does not apply)."""
    points = lf_points(now)
    frame = pd.DataFrame({
        "LF": points["lf"], "Votes": points["votes"], "Coverage": points["coverage"],
        "Overlaps": now["Overlaps"].to_numpy(dtype=float), "Conflicts": now["Conflicts"].to_numpy(dtype=float),
        "Labelled": points["labelled"], "Correct": now.get("Correct", pd.Series(np.nan, now.index)).to_numpy(),
        "Incorrect": now.get("Incorrect", pd.Series(np.nan, now.index)).to_numpy(), "Emp. Acc.": points["accuracy"],
        "Acc. low": points["acc_low"], "Acc. high": points["acc_high"],
    })
    before = lf_points(saved).set_index("lf") if saved is not None and len(saved) else None
    for col, ours, theirs in (("Δ Coverage", "Coverage", "coverage"), ("Δ Acc.", "Emp. Acc.", "accuracy")):
        old = before[theirs].reindex(frame["LF"]).to_numpy() if before is not None else np.nan
        frame[col] = 100 * (frame[ours].to_numpy() - old)
    return frame[SUMMARY_COLUMNS]


SUMMARY_COLUMNS = ["LF", "Votes", "Coverage", "Δ Coverage", "Overlaps", "Conflicts", "Labelled", "Correct",
                   "Incorrect", "Emp. Acc.", "Acc. low", "Acc. high", "Δ Acc."]
