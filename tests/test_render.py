"""workbench.render: escaping before highlighting, the LF engine's match rules, and the example card's HTML."""

from __future__ import annotations

import html
import math
import re

import pytest

from lfs.apply import matches
from tests.workbench_fixtures import HOSTILE_REVIEW
from workbench.render import Card, card_html, highlight, highlight_groups, match_spans, merge_spans, review_html

TAG = re.compile(r"<\s*/?\s*([a-zA-Z]+)")


def tags(markup: str) -> set[str]:
    return {m.lower() for m in TAG.findall(markup)}


def unmarked(markup: str) -> str:
    """The text a browser shows: marks removed, entities decoded."""
    return html.unescape(markup.replace("<mark>", "").replace("</mark>", ""))


def test_hostile_review_is_escaped_then_highlighted():
    out = highlight(HOSTILE_REVIEW, ["5 stars", "script", "onerror"], "substring")
    assert "&lt;script&gt;" not in out  # "script" itself is marked inside the escaped tag ...
    assert "&lt;<mark>script</mark>&gt;" in out
    assert "<mark>5 stars</mark>" in out and "&amp; <mark>5 stars</mark>" in out
    assert tags(out) == {"mark"}  # ... and the only element is <mark>: no <script, no <img
    assert "<script" not in out and "<img" not in out
    assert unmarked(out) == HOSTILE_REVIEW
    plain = highlight(HOSTILE_REVIEW, [], "substring")
    assert plain == html.escape(HOSTILE_REVIEW) and "&lt;script&gt;" in plain


def test_word_versus_substring():
    text = "A cat sat on the catalogue; cats and a bobcat. Cat!"
    assert highlight(text, ["cat"], "word") == "A <mark>cat</mark> sat on the catalogue; cats and a bobcat. " \
                                               "<mark>Cat</mark>!"
    assert highlight(text, ["cat"], "substring").count("<mark>") == 5
    assert highlight("snake_case cat_", ["case", "cat"], "word") == "snake_case cat_"  # "_" is a word character
    assert highlight("4.5 stars", ["5 stars"], "word") == "4.<mark>5 stars</mark>"  # "." is not


def test_case_is_ignored_and_kept():
    assert highlight("LOVED it, Loved it", ["loved"], "substring") == "<mark>LOVED</mark> it, <mark>Loved</mark> it"
    assert highlight("loved", ["LOVED"], "word") == "<mark>loved</mark>"


def test_overlapping_and_touching_matches_merge():
    assert highlight("abcde", ["abc", "bcd"], "substring") == "<mark>abcd</mark>e"
    assert highlight("abcabc", ["abc"], "substring") == "<mark>abcabc</mark>"
    assert highlight("aaaa", ["aa"], "substring") == "<mark>aaaa</mark>"
    assert highlight("one star, two stars", ["star", "one star", "stars"], "substring") == \
        "<mark>one star</mark>, two <mark>stars</mark>"
    assert merge_spans([(5, 7), (0, 2), (1, 3), (3, 4)]) == [(0, 4), (5, 7)]


def test_keywords_with_characters_that_escaping_changes():
    text = 'Tom & Jerry <3 "quoted" it\'s'
    assert highlight(text, ["& jerry"], "substring") == \
        "Tom <mark>&amp; Jerry</mark> &lt;3 &quot;quoted&quot; it&#x27;s"
    assert "<mark>&lt;3</mark>" in highlight(text, ["<3"], "substring")
    assert "<mark>&quot;quoted&quot;</mark>" in highlight(text, ['"quoted"'], "word")
    assert "<mark>it&#x27;s</mark>" in highlight(text, ["it's"], "word")
    # matching happens on the raw text, never on the escaped one
    assert "<mark>" not in highlight("a & b < c", ["amp", "lt", "&amp;"], "substring")


def test_unicode():
    assert highlight("Café au lait, CAFÉ!", ["café"], "word") == "<mark>Café</mark> au lait, <mark>CAFÉ</mark>!"
    assert highlight("love it 😍😍 5 stars", ["5 stars", "😍"], "substring") == \
        "love it <mark>😍😍</mark> <mark>5 stars</mark>"
    # "İ" lower-cases to two characters: later positions still land on the right characters
    assert highlight("İstanbul was great", ["great"], "word") == "İstanbul was <mark>great</mark>"
    assert highlight("İstanbul", ["i"], "substring") == "<mark>İ</mark>stanbul"
    assert highlight("naïve Zoë", ["zoë"], "word") == "naïve <mark>Zoë</mark>"
    assert highlight("écrit", ["crit"], "word") == "écrit"  # "é" is a word character


TEXTS = [HOSTILE_REVIEW, "A cat sat on the catalogue", "4.5 stars!", "five stars", "fivestars", "İİ stars",
         "snake_case", "Σ final ΣΑΣ", "x&y", "ok 5 stars_", "", "ὈΔΥΣΣΕΎΣ", "ǅungla", "ﬁne ﬁsh"]
KEYWORDS = ["cat", "5 stars", "star", "stars", "five stars", "i", "case", "σ", "ας", "&", "x&y", "ok", "fi",
            "ǆ", "script", "<img"]


@pytest.mark.parametrize("mode", ["substring", "word"])
def test_matches_exactly_where_the_lf_engine_does(mode):
    for text in TEXTS:
        for keyword in KEYWORDS:
            spans = match_spans(text, [keyword], mode)
            assert bool(spans) == matches(text, keyword, mode), (text, keyword, mode)
            assert all(0 <= a < b <= len(text) for a, b in spans)


def test_unknown_mode():
    with pytest.raises(ValueError, match="match mode"):
        highlight("x", ["x"], "regex")


def test_groups_merge_across_modes():
    groups = [(["cat"], "word"), (["sat on"], "substring"), (["on the"], "substring")]
    assert highlight_groups("A cat sat on the mat", groups) == "A <mark>cat</mark> <mark>sat on the</mark> mat"


def card(**kw) -> Card:
    values = dict(row=1234, title="<b>Bold</b> & Co", first_author="Ann O'Hara", same_author_count=3.0,
                  polarity=0.123, subjectivity=math.nan,
                  votes=[("pos<x>", "positive"), ("neg", "abstain")], gold="negative",
                  review_text=HOSTILE_REVIEW, highlights=[(["5 stars"], "substring")])
    return Card(**(values | kw))


def test_card_is_built_from_escaped_pieces():
    out = card_html(card())
    assert "&lt;script&gt;" in out and "<script" not in out and "<img" not in out
    assert tags(out) <= {"div", "span", "b", "mark", "em"}
    assert "&lt;b&gt;Bold&lt;/b&gt; &amp; Co" in out and "Ann O&#x27;Hara" in out
    assert "pos&lt;x&gt;: " in out
    assert "same-author books: 3" in out and "polarity 0.12" in out and "subjectivity —" in out
    assert "gold: <b>negative</b>" in out and "row 1,234" in out
    assert re.search(r'<div class="review"[^>]*>Loved it &lt;img', out)
    assert "<mark>5 stars</mark>" in out


def test_card_without_gold_review_or_features():
    out = card_html(card(gold=None, review_text=None, polarity=None, same_author_count=math.nan, title=None,
                         first_author=None, votes=[]))
    assert "no gold" in out and "gold:" not in out
    assert "no review" in out and 'class="review"' in out
    assert "polarity —" in out and "same-author books: —" in out
    assert "untitled" in out and "first author unknown" in out and "no LF enabled" in out
    assert "no review" in review_html("   ")


def test_markdown_literal_shows_text_as_typed():
    from workbench.render import markdown_literal

    hostile = "[click](http://evil.example) ![img](x) **bold** <b>_x_</b> `code` 3.5/5"
    escaped = markdown_literal(hostile)
    assert "\\[click\\]\\(http" in escaped and "\\*\\*bold\\*\\*" in escaped
    assert re.sub(r"\\(.)", r"\1", escaped) == hostile  # markdown's backslash escapes give the text back
