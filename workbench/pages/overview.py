"""Overview: what the dataset holds (splits, labels, reviews, books) and where it came from."""

import streamlit as st

from workbench import context
from workbench.charts import data as charts
from workbench.overview_view import data_source, dataset_stats, fidelity, fidelity_panel

st.title("Overview")
prepared = context.prepared()
summary, lengths = dataset_stats(context.fingerprint(), prepared)

cols = st.columns(6)
for col, (label, value) in zip(cols, [
    ("Books", f"{summary['books']:,}"), ("Authors", f"{summary['authors']:,}"), ("Users", f"{summary['users']:,}"),
    ("Labelled rows", f"{summary['labelled_rows']:,}"), ("Positive share", f"{summary['positive_share']:.1%}"),
    ("With a review", f"{summary['review_share']:.1%}"),
], strict=True):
    col.metric(label, value)

left, right = st.columns([1, 2])
left.dataframe(charts.split_frame(summary), hide_index=True)
left.caption("Train rows carry no gold label (the LFs label them); dev has gold for LF analysis; val and test are "
             "for the end model.")
stars = prepared.manifest.get("counts", {}).get("stars")
if stars:
    right.altair_chart(charts.star_chart(stars), use_container_width=True)
else:
    right.info("This prepared data predates the star counts; `python -m pipeline prepare --force` adds them.")

left, right = st.columns(2)
left.altair_chart(charts.histogram(lengths["interactions"], title="Interactions per user",
                                   x_title="books the user shelved"), use_container_width=True)
right.altair_chart(charts.histogram(lengths["review"], title="Review length", x_title="words per review",
                                    log_y=True), use_container_width=True)

fidelity_panel(fidelity(context.fingerprint(), prepared), prepared.manifest.get("source", "synthetic"))
data_source(prepared, context.data_dir())
