"""Examples: read the rows behind a figure. Filter a split's rows by what an LF does (fires, abstains, is right or
wrong against gold, overlaps, conflicts), by keyword, conflicts, coverage, gold label and review; page through
them in dataset order, a seeded random sample or "read next" (dev's rows where the LFs conflict, then those they
agree on, least certain first, then uncovered rows with a suggested phrase: lfs.triage), each shown with its book,
features, every LF's vote, the gold label and the review with the LFs' keywords marked. The LF page's figures open
this page already filtered, and the URL carries the filter and the order so a link reopens it."""

import streamlit as st

from workbench import context, state
from workbench import examples_view as view

st.title("Examples")
view.restore()
specs = state.working(context.store()).enabled()
prepared = context.prepared()
flt = view.filters(specs, {name: "rating" in rows for name, rows in prepared.splits.items()})
view.reflect(flt)
view.show(context.fingerprint(), context.split(flt.split), specs, flt)
