"""The Overview page's cached figures and its note on where the data came from."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from pipeline.data.dataset import PreparedData, summarize
from pipeline.data.textstats import SAMPLE as TEXT_SAMPLE
from pipeline.data.textstats import TextStats, fidelity_table, text_stats


@st.cache_data(max_entries=2, show_spinner="Counting…")
def dataset_stats(fingerprint: str, _prepared: PreparedData) -> tuple[dict, dict[str, np.ndarray]]:  # noqa: ARG001
    """summarize() plus the per-user interaction counts and per-review word counts, once per dataset."""
    texts = pd.concat([df["review_text"].dropna() for df in _prepared.splits.values()], ignore_index=True)
    lengths = {"interactions": _prepared.users["book_idxs"].map(len).to_numpy(),
               "review": texts.str.split().str.len().to_numpy()}
    return summarize(_prepared), lengths


@st.cache_data(max_entries=2, show_spinner="Comparing with the real files…")
def fidelity(fingerprint: str, _prepared: PreparedData) -> pd.DataFrame:  # noqa: ARG001
    """This data's text variety, rating split and review share beside the real files' (pipeline.data.textstats):
    the text figures prepare counted over the first reviews joined to labelled rows, or, for data prepared before
    it did, the same figures counted here once per dataset."""
    counts = _prepared.manifest.get("counts", {})
    if "text" in counts:
        stats = TextStats.from_dict(counts["text"])
    else:
        texts = (df["review_text"].dropna() for df in _prepared.splits.values())
        stats = text_stats(itertools.chain.from_iterable(texts))
    return fidelity_table(stats, counts)


def fidelity_panel(table: pd.DataFrame, source: str) -> None:
    """The fidelity table, with what it says for generated and for real data."""
    with st.expander("How this data compares with the real Goodreads files", expanded=False):
        percent = ~table["figure"].str.startswith("review tokens")
        shown = table.assign(**{col: [f"{v:.1%}" if pct else f"{v:g}" if pd.notna(v) else "–"
                                      for v, pct in zip(table[col], percent, strict=True)]
                                for col in ("this data", "real files")})
        st.dataframe(shown, hide_index=True, width="stretch")
        held = int(table["ok"].sum())
        what = ("generated data: how closely it imitates the real files" if source != "real"
                else "the real files against the published reference figures")
        st.caption(f"{held} of {len(table)} figures within the accepted range ({what}). Text figures are over the "
                   f"first {TEXT_SAMPLE:,} reviews joined to the splits; real reviews are nearly all distinct, so "
                   "the real files' own share of distinct sentences and duplicates is not listed.")


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
            "then run `make run` again (or `python -m pipeline prepare`) and reload this page. Add "
            "`goodreads_book_authors.json.gz` to show authors by name; without it they show by Goodreads id.")
        counts = manifest.get("counts", {})
        st.caption(f"Prepare kept {counts.get('books_kept', 0):,} of {counts.get('books_total', 0):,} books, "
                   f"{counts.get('users_kept', 0):,} of {counts.get('users_seen', 0):,} users and joined "
                   f"{counts.get('reviews_joined', 0):,} reviews. Bad lines skipped: "
                   f"{sum(manifest.get('bad_lines', {}).values()):,}.")
