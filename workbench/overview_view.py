"""The Overview page's cached figures and its note on where the data came from."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from pipeline.data.dataset import PreparedData, summarize


@st.cache_data(max_entries=2, show_spinner="Counting…")
def dataset_stats(fingerprint: str, _prepared: PreparedData) -> tuple[dict, dict[str, np.ndarray]]:  # noqa: ARG001
    """summarize() plus the per-user interaction counts and per-review word counts, once per dataset."""
    texts = pd.concat([df["review_text"].dropna() for df in _prepared.splits.values()], ignore_index=True)
    lengths = {"interactions": _prepared.users["book_idxs"].map(len).to_numpy(),
               "review": texts.str.split().str.len().to_numpy()}
    return summarize(_prepared), lengths


def data_source(prepared: PreparedData, data_dir: Path) -> None:
    manifest = prepared.manifest
    with st.expander("Where this data came from", expanded=manifest.get("source") != "real"):
        if manifest.get("source") == "real":
            st.markdown(f"The real Goodreads Young Adult files in `{data_dir / 'raw'}`, prepared "
                        f"{manifest.get('created', '')}.")
        else:
            gen = manifest.get("generator") or {}
            st.markdown(f"**Synthetic data**, generated at `{gen.get('scale', '?')}` scale with seed "
                        f"`{gen.get('seed', '?')}` in the real files' exact format, prepared "
                        f"{manifest.get('created', '')}. The LFs, label model and end model treat it exactly "
                        "as they would the real files.")
        st.markdown(
            "**To use the real Goodreads files**: download `goodreads_books_young_adult.json.gz`, "
            "`goodreads_interactions_young_adult.json.gz` and `goodreads_reviews_young_adult.json.gz` from the UCSD "
            f"Book Graph, put them in `{data_dir / 'raw'}` (remove the generated files and `GENERATED.json` there), "
            "then run `make run` again (or `python -m pipeline prepare`) and reload this page.")
        counts = manifest.get("counts", {})
        st.caption(f"Prepare kept {counts.get('books_kept', 0):,} of {counts.get('books_total', 0):,} books, "
                   f"{counts.get('users_kept', 0):,} of {counts.get('users_seen', 0):,} users and joined "
                   f"{counts.get('reviews_joined', 0):,} reviews. Bad lines skipped: "
                   f"{sum(manifest.get('bad_lines', {}).values()):,}.")
