"""Charts of the dataset for the Overview page."""

from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd

STAR_LABELS = {0: "no rating", 1: "negative", 2: "negative", 3: "negative", 4: "positive", 5: "positive"}
LABEL_COLORS = alt.Scale(domain=["negative", "positive", "no rating"], range=["#d62728", "#2ca02c", "#9e9e9e"])


def star_frame(stars: dict) -> pd.DataFrame:
    """{"0": n, ..., "5": n} (the manifest's counts.stars) -> stars, interactions, label, share."""
    frame = pd.DataFrame({"stars": [int(s) for s in stars], "interactions": [int(n) for n in stars.values()]})
    frame["label"] = frame["stars"].map(STAR_LABELS)
    total = frame["interactions"].sum()
    frame["share"] = frame["interactions"] / total if total else 0.0
    return frame.sort_values("stars", ignore_index=True)


def star_chart(stars: dict) -> alt.Chart:
    """Interactions by stars, coloured by the label the seed maps them to (4-5 positive, 1-3 negative)."""
    return alt.Chart(star_frame(stars), title="Star ratings of the kept interactions").mark_bar().encode(
        x=alt.X("stars:O", title="stars (0 = shelved without a rating)"),
        y=alt.Y("interactions:Q", title="interactions"),
        color=alt.Color("label:N", scale=LABEL_COLORS, title="label"),
        tooltip=["stars", alt.Tooltip("interactions:Q", format=","), alt.Tooltip("share:Q", format=".1%"), "label"],
    )


def histogram(values: np.ndarray, *, title: str, x_title: str, max_bins: int = 40, log_y: bool = False) -> alt.Chart:
    """A histogram of pre-binned counts: altair receives bins, not every value (seed scale has ~900k rows)."""
    values = np.asarray(values, dtype=float)
    values = values[~np.isnan(values)]
    if len(values) == 0:
        frame = pd.DataFrame({"start": [], "end": [], "count": []})
    else:
        counts, edges = np.histogram(values, bins=_bins(values, max_bins))
        frame = pd.DataFrame({"start": edges[:-1], "end": edges[1:], "count": counts})
    y = alt.Y("count:Q", title="count", scale=alt.Scale(type="symlog") if log_y else alt.Undefined)
    return alt.Chart(frame, title=title).mark_bar().encode(
        x=alt.X("start:Q", title=x_title, bin="binned"), x2="end:Q", y=y,
        tooltip=[alt.Tooltip("start:Q", format=",.0f"), alt.Tooltip("end:Q", format=",.0f"),
                 alt.Tooltip("count:Q", format=",")],
    )


def _bins(values: np.ndarray, max_bins: int) -> np.ndarray:
    """Integer-aligned bin edges (the values are counts), at most max_bins of them."""
    low, high = float(values.min()), float(values.max())
    width = max(1.0, np.ceil((high - low + 1) / max_bins))
    return np.arange(low, high + width + 1, width)


def split_frame(summary: dict) -> pd.DataFrame:
    """Rows and users per split from pipeline.data.dataset.summarize()."""
    return pd.DataFrame({"split": list(summary["rows"]), "labelled rows": list(summary["rows"].values()),
                         "users": [summary["users_per_split"][s] for s in summary["rows"]]})
