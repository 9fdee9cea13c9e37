"""Text variety figures on small texts with known answers, and the generator's words that must not move
TextBlob's sentiment (what the seed's polarity and subjectivity LFs read)."""

from __future__ import annotations

import random
import re

import pytest
from textblob import TextBlob

from pipeline.data.generate.reviews import compose_review
from pipeline.data.generate.vocabulary import FIRST_NAMES, Vocabulary, neutral_words, swap_adjectives, swaps
from pipeline.data.textstats import (
    REAL_STAR_SHARES,
    fidelity_table,
    sentences,
    star_shares,
    text_stats,
)


def test_sentences_split_at_end_marks_and_paragraphs():
    assert sentences("Loved it! So good. \n Why? The end") == ["Loved it!", "So good.", "Why?", "The end"]
    assert sentences("4.5 stars. \n HOLY") == ["4.5 stars.", "HOLY"]


def test_text_stats_known_answers():
    texts = ["A. B.", "A. C.", "A. B.", "one two three four", "", None]
    stats = text_stats(texts)
    assert stats.reviews == 4  # empty and missing texts are not reviews
    assert stats.sentences == 7  # A B | A C | A B | one two three four
    assert stats.distinct_sentence_ratio == pytest.approx(4 / 7)  # A., B., C., "one two three four"
    assert stats.duplicate_share == pytest.approx(1 / 4)  # the second "A. B."
    assert stats.token_quartiles == (2.0, 2.0, 2.5)
    assert stats.mean_tokens == pytest.approx(2.5)
    assert text_stats(["x"] * 10, limit=3).reviews == 3


def test_fidelity_table_compares_with_the_real_files():
    stats = text_stats([f"Sentence {i}. Another {i}." for i in range(10)])
    stars = {"0": 100, **{str(s): round(share * 10_000)
                          for s, share in zip(range(1, 6), REAL_STAR_SHARES, strict=True)}}
    counts = {"stars": stars, "reviews_read": 68, "interactions_read": 1000}
    table = fidelity_table(stats, counts).set_index("figure")
    assert table.loc["distinct sentences", "ok"] and table.loc["exact-duplicate reviews", "ok"]
    assert not table.loc["review tokens median", "ok"]  # 4 tokens against 74
    assert table.loc["3-star share of ratings", "this data"] == pytest.approx(0.2229, abs=1e-4)
    assert table.loc["reviews per interaction", "ok"]
    assert star_shares({"1": 1, "5": 3}) == (0.25, 0.0, 0.0, 0.0, 0.75)


def test_neutral_fillers_are_not_in_textblobs_lexicon():
    from textblob.en import sentiment

    assert [w for w in neutral_words() if w in sentiment] == []
    words = Vocabulary(0).book(7)
    text = " ".join([*words.cast, *words.places, *words.objects])
    assert TextBlob(text).sentiment == (0.0, 0.0)


def test_a_neutral_opener_or_tail_leaves_the_sentiment_as_it_was():
    assert TextBlob("By chapter 12, the plot was boring (chapter 3).").sentiment == \
        TextBlob("The plot was boring.").sentiment


def test_swaps_stay_in_their_sentiment_band():
    from textblob.en import sentiment

    for word, band in swaps().items():
        pol, subj = sentiment[word][None][:2]
        for other in band:
            p, s = sentiment[other][None][:2]
            assert abs(p - pol) <= 0.1 + 1e-9 and abs(s - subj) <= 0.15 + 1e-9, (word, other)
    rng = random.Random(3)
    assert {swap_adjectives("An amazing story.", rng) for _ in range(50)} > {"An amazing story."}
    assert "a amazing" not in " ".join(swap_adjectives("It was a great ride.", rng) for _ in range(50)).lower()


def test_reviews_are_deterministic_and_name_the_books_own_cast():
    vocabulary = Vocabulary(5)
    first = [compose_review(4, 120, random.Random(9), words=vocabulary.book(b)) for b in range(3)]
    again = [compose_review(4, 120, random.Random(9), words=Vocabulary(5).book(b)) for b in range(3)]
    assert first == again
    cast = {name.split()[0] for name in vocabulary.book(0).cast}
    rng = random.Random(1)
    text = " ".join(compose_review(3, 300, rng, words=vocabulary.book(0)) for _ in range(20))
    mentioned = {name for name in FIRST_NAMES if re.search(rf"\b{name}\b", text)}
    assert mentioned and mentioned <= cast  # only this book's characters, never another book's


def test_generated_reviews_vary():
    rng, vocabulary = random.Random(0), Vocabulary(0)
    texts = [compose_review(rng.randint(1, 5), rng.randint(5, 200), rng, words=vocabulary.book(rng.randrange(500)))
             for _ in range(2000)]
    stats = text_stats(texts)
    assert stats.distinct_sentence_ratio >= 0.5
    assert stats.duplicate_share <= 0.01


def test_prepare_counts_the_text_figures_of_the_joined_reviews(tiny_processed):
    """Prepare stores the figures the Overview shows (tiny data has fewer than SAMPLE reviews, so their order in
    prepare does not matter)."""
    import itertools

    from pipeline.data.dataset import load_prepared
    from pipeline.data.textstats import TextStats

    data = load_prepared(tiny_processed)
    stored = TextStats.from_dict(data.manifest["counts"]["text"])
    texts = itertools.chain.from_iterable(df["review_text"].dropna() for df in data.splits.values())
    assert stored == text_stats(texts)
    assert stored.reviews == data.manifest["counts"]["reviews_joined"]
