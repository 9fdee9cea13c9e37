"""Recommend: pick a test user (or type any user's id), see their books, the top 10 of the model in use among books
they have not shelved, with the held-out books they liked marked, and the popularity, item-kNN and ALS top 10
beside it; and, if picked, another succeeded run's top 10."""

import streamlit as st

from pipeline.runs.recommend import contender_top, held_out_likes, popular, recommend
from workbench import context, nav, run_results
from workbench import recommend_view as view

K = 10

st.title("Recommend")
prepared, registry = context.prepared(), context.registry()
run = registry.current_model()
if run is None:
    st.info("No trained model yet. Train one on the Train page (one click: it labels the train rows with your LFs, "
            "trains the recommender and evaluates it); its model then recommends here.")
    st.page_link(nav.TRAIN, label="Go to Train", icon=":material/model_training:")
    st.stop()

user = view.pick_user(prepared, context.fingerprint())
model = view.model(run)
if user is None or model is None:
    st.stop()
liked = held_out_likes(prepared, user)
hold_out = st.toggle("Hold out the user's liked test books", value=True, key="rec-hold-out", help=view.HOLD_OUT_HELP)
held = liked if hold_out else ()
st.caption(f"{run_results.model_in_use(registry)} " + (
    "The user's liked test books are off the shelf the model sees and among the candidates; ★ marks them."
    if hold_out else "Every shelved book, the held-out test books included, is excluded from the lists."))

left, right = st.columns(2)
with left:
    view.ranked_list(f"The model's top {K}", recommend(prepared, registry, user, k=K, model=model, hold_out=held),
                     liked, score="score", key="rec-model")
with right:
    view.ranked_list(f"Popularity's top {K}", popular(prepared, user, k=K, hold_out=held), liked,
                     score="shelved by", key="rec-popular")
other = view.pick_other_run(registry, run)
other_model = view.model(other) if other is not None else None
if other_model is not None:
    view.ranked_list(f"Run {other.id}'s top {K} (not the model in use)",
                     recommend(prepared, registry, user, k=K, model=other_model, hold_out=held), liked,
                     score="score", key="rec-other")
fitted, note = view.contenders(prepared, context.fingerprint(), run, registry.results(run.id).get("metrics"))
if fitted is None:
    st.caption(f"{note[:1].upper()}{note[1:]}.")
else:
    for column, (key, title) in zip(st.columns(2), (("item_knn", "Item-kNN"), ("als", "ALS")), strict=True):
        with column:
            view.ranked_list(f"{title}'s top {K}", contender_top(prepared, fitted[key], user, k=K, hold_out=held),
                             liked, score="score", key=f"rec-{key.replace('_', '-')}")

books = view.shelf(prepared, user)
st.subheader(f"The user's books ({len(books)})")
st.dataframe(books, hide_index=True, key="rec-shelf")
