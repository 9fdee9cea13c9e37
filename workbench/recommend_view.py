"""The Recommend page's parts: choosing a user, the run's model (loaded once per run), the ranked lists and the
user's own books.

The lists come from pipeline.runs.recommend (`recommend`: the model's top k, `popular`: the popularity baseline's,
`contender_top`: item-kNN's and ALS's, all among the same candidates); this module only draws them. Authors show
by name (from the raw folder's authors file; by Goodreads id when it had none).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from pipeline.data.dataset import PreparedData, author_names
from pipeline.runs.recommend import load_contenders, resolve_user
from pipeline.runs.registry import Registry, Run
from workbench.render import markdown_literal

LIKED_MARK = "★ liked (held out)"
HOLD_OUT_HELP = (
    "A user's shelf holds every book they shelved, their held-out test books included, and the model only "
    "recommends books off the shelf: with this off (as `python -m pipeline recommend`) a held-out book can never "
    "appear. With it on, the user's liked test books are taken off the shelf the model sees and join the "
    "candidates, as in the HR@10 evaluation (which holds out one liked book at a time).")


@st.cache_data(max_entries=2, show_spinner=False)
def test_users(fingerprint: str, _prepared: PreparedData) -> pd.DataFrame:  # noqa: ARG001 (keys the cache)
    """The test split's users: user_idx, user_id, liked (their test rows rated 1), most liked first."""
    test = _prepared.splits["test"]
    liked = test[test["rating"] == 1].groupby("user_idx").size()
    idx = np.unique(test["user_idx"].to_numpy())
    frame = pd.DataFrame({"user_idx": idx, "user_id": _prepared.users["user_id"].to_numpy()[idx],
                          "liked": liked.reindex(idx, fill_value=0).to_numpy()})
    return frame.sort_values(["liked", "user_idx"], ascending=[False, True], ignore_index=True)


def pick_user(prepared: PreparedData, fingerprint: str) -> int | None:
    """A test user from selectbox `rec-user` (default: the one with the most liked held-out books), or any user
    typed into `rec-user-id` (a Goodreads user_id or a user_idx), which wins when filled. None after an error."""
    users = test_users(fingerprint, prepared)
    left, right = st.columns(2)
    labels = dict(zip(users["user_idx"], users["user_id"] + " · " + users["liked"].astype(str) + " liked, held out",
                      strict=True))
    chosen = left.selectbox("Test user", list(labels), format_func=labels.__getitem__, key="rec-user",
                            help="Users of the test split: their rated books were held out from training.")
    typed = right.text_input("…or type a user id", key="rec-user-id", placeholder="Goodreads user_id or user_idx")
    if not typed.strip():
        return None if chosen is None else int(chosen)
    try:
        return resolve_user(prepared, typed)
    except ValueError as e:
        st.error(markdown_literal(f"{e}."))
        return None


@st.cache_resource(max_entries=2, show_spinner="Loading the model…")
def _model(run_id: int, path: str, mtime_ns: int):  # noqa: ARG001 (the run and file version key the cache)
    """A run's Keras model, read-only and shared: loaded once per run (and file version)."""
    from pipeline.training.hybrid import load_model

    return load_model(path)


def model(run: Run):
    """The run's model, or None after an st.error saying why it cannot be used."""
    try:
        path = run.artifact("model")
        return _model(run.id, str(path), path.stat().st_mtime_ns)
    except KeyError:
        st.error(f"Run {run.id} recorded no model file; retrain on the Train page.")
    except OSError as e:
        st.error(f"Run {run.id}'s model cannot be read ({e}); retrain on the Train page.")
    except ValueError as e:
        st.error(f"Run {run.id}'s model file is damaged ({e}); retrain on the Train page.")
    return None


NONE = 0  # "no other run" in the run picker (run ids start at 1)


def pick_other_run(registry: Registry, in_use: Run) -> Run | None:
    """Another succeeded run whose list to show beside the model in use (selectbox `rec-other-run`); None for
    none, the default."""
    others = {r.id: r for r in registry.list(status="succeeded") if r.id != in_use.id}
    if not others:
        return None
    labels = {NONE: "no other run", **{i: f"run {i}" + (f" · {r.note}" if r.note else "") for i, r in others.items()}}
    chosen = st.selectbox("Beside it, the list of another succeeded run", list(labels), format_func=labels.get,
                          key="rec-other-run", help="Its model is loaded only to show this list; the model in use "
                                                    "stays (promote a run on the Runs page)")
    return others.get(chosen)


@st.cache_resource(max_entries=2, show_spinner="Loading item-kNN and ALS…")
def _contenders(fingerprint: str, run_id: int, _prepared: PreparedData, _run: Run, _metrics: dict | None):  # noqa: ARG001
    """The fitted item-kNN and ALS (read-only, shared): loaded once per dataset and model run."""
    return load_contenders(_prepared, _run, _metrics)


def contenders(prepared: PreparedData, fingerprint: str, run: Run, metrics: dict | None):
    """({"item_knn": Contender, "als": Contender}, None) or (None, a note saying why there are no lists)."""
    try:
        return _contenders(fingerprint, run.id, prepared, run, metrics)
    except (ImportError, OSError, RuntimeError, ValueError) as e:
        return None, f"item-kNN and ALS cannot be loaded ({e})"


def ranked(frame: pd.DataFrame, liked: np.ndarray, score: str) -> pd.DataFrame:
    """A top-k frame (pipeline.runs.recommend) for display: index "1." .. "k.", title, author, score, held-out mark."""
    values = frame["score"].to_numpy()
    return pd.DataFrame({"title": frame["title"].to_numpy(), "author": author_names(frame),
                         score: [f"{v:.4f}" if isinstance(v, float) else str(v) for v in values.tolist()],
                         "held out": np.where(frame["book_idx"].isin(liked), LIKED_MARK, "")},
                        index=pd.Index([f"{r}." for r in frame["rank"]], name="#"))


def table_html(frame: pd.DataFrame) -> str:
    """`frame` (index first, as a column) as an HTML table by pandas, every header and cell escaped: titles render
    as text, never as markup or Markdown (st.table would read its cells as Markdown)."""
    body = frame.reset_index().to_html(index=False, escape=True, border=0)
    return body.replace("<table ", '<table style="width:100%" ', 1)


def ranked_list(title: str, frame: pd.DataFrame, liked: np.ndarray, *, score: str, key: str) -> None:
    """The list in a container with key `key`, as a static table (every row in the page's text)."""
    with st.container(key=key):
        st.markdown(f"**{title}**")
        st.html(table_html(ranked(frame, liked, score)))
        if len(liked):
            hits = int(frame["book_idx"].isin(liked).sum())
            st.caption(f"{hits} of the user's {len(liked)} liked held-out books in this list.")


def shelf(prepared: PreparedData, user: int) -> pd.DataFrame:
    """The user's books: title, author (name), author id, and whether it is a held-out test book they liked or
    not."""
    books = np.asarray(prepared.users["book_idxs"].iat[user])
    meta = prepared.books.set_index("book_idx").loc[books]
    test = prepared.splits["test"]
    rows = test.loc[test["user_idx"].to_numpy() == user].drop_duplicates("book_idx")
    rated = rows.set_index("book_idx")["rating"]
    held = pd.Series(books).map(rated).map({1: LIKED_MARK, 0: "not liked (held out)"}).fillna("")
    return pd.DataFrame({"title": meta["title"].to_numpy(), "author": author_names(meta),
                         "author id": meta["first_author"].to_numpy(), "held out": held.to_numpy()})
