"""HTML built from escaped pieces: keyword highlighting and the Examples page's card (no streamlit here).

Everything that comes from the dataset or the user goes through `html.escape`; the only markup is the one written
here. Highlighting finds matches on the raw text, exactly as the LF engine does (`lfs.apply.matches`:
case-insensitive, "substring" or "word"), then escapes the pieces between and inside the matches:

>>> highlight("Tom & Jerry <3", ["& jerry"], "substring")
'Tom <mark>&amp; Jerry</mark> &lt;3'
>>> highlight("a cat in a catalogue", ["cat"], "word")
'a <mark>cat</mark> in a catalogue'
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from lfs.apply import is_word_char
from lfs.spec import MATCH_MODES


def markdown_literal(text: object) -> str:
    """`text` as typed when Streamlit renders it as markdown (st.error, st.caption, ...): every ASCII punctuation
    character backslash-escaped, so a review, keyword, note or URL value cannot become a link, image or emphasis."""
    return re.sub(r"([!-/:-@\[-`{-~])", r"\\\1", str(text))


def _lowered(text: str) -> tuple[str, list[int]]:
    """text.lower() and, for each of its characters, the position of the character of `text` it comes from
    (lower-casing can lengthen a character: 'İ' becomes two)."""
    lowered = text.lower()
    origin = [i for i, ch in enumerate(text) for _ in range(len(ch.lower()))]
    if len(origin) != len(lowered):  # context-dependent lower-casing changed a length: fall back to per character
        lowered = "".join(ch.lower() for ch in text)
    return lowered, origin


def match_spans(text: str, keywords: Iterable[str], mode: str) -> list[tuple[int, int]]:
    """(start, end) of every match of every keyword in `text`, as character positions of `text`, merged where
    they overlap or touch, in order. A keyword matches where `lfs.apply.matches(text, keyword, mode)` would say
    it does."""
    if mode not in MATCH_MODES:
        raise ValueError(f"unknown match mode {mode!r}; choose one of {', '.join(MATCH_MODES)}")
    lowered, origin = _lowered(text)
    found = []
    for keyword in dict.fromkeys(k.lower() for k in keywords if k):
        i = lowered.find(keyword)
        while i != -1:
            end = i + len(keyword)
            if mode == "substring" or _bounded(lowered, i, end):
                found.append((origin[i], origin[end - 1] + 1))
            i = lowered.find(keyword, i + 1)
    return merge_spans(found)


def _bounded(text: str, start: int, end: int) -> bool:
    """No word character touches text[start:end] on either side (lfs.apply.matches's rule)."""
    return not (start > 0 and is_word_char(text[start - 1])) and not (end < len(text) and is_word_char(text[end]))


def merge_spans(spans: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sorted spans with every overlapping or touching pair joined."""
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def mark(text: str, spans: Sequence[tuple[int, int]]) -> str:
    """`text` escaped, with each (merged, sorted) span wrapped in <mark>."""
    out, at = [], 0
    for start, end in spans:
        out += [html.escape(text[at:start]), "<mark>", html.escape(text[start:end]), "</mark>"]
        at = end
    out.append(html.escape(text[at:]))
    return "".join(out)


def highlight(text: str, keywords: Iterable[str], mode: str) -> str:
    """`text` as HTML: escaped, with the matches of `keywords` (as an LF with this match mode finds them) marked."""
    return mark(text, match_spans(text, keywords, mode))


def highlight_groups(text: str, groups: Iterable[tuple[Iterable[str], str]]) -> str:
    """`highlight` for several (keywords, mode) groups at once (keyword LFs may match differently)."""
    return mark(text, merge_spans(span for keywords, mode in groups for span in match_spans(text, keywords, mode)))


# -- the example card -------------------------------------------------------------------------------------------
MISSING = "—"
VOTE_COLOURS = {"positive": "#1a7f37", "negative": "#cf222e", "abstain": "#6e7781"}
CARD_STYLE = "line-height:1.5"
VOTES_STYLE = "display:flex;flex-wrap:wrap;column-gap:0.9rem"
REVIEW_STYLE = ("white-space:pre-wrap;overflow-wrap:anywhere;margin-top:0.5rem;padding:0.5rem 0.75rem;"
                "border-left:3px solid #d0d7de")


def number(value: object, digits: int = 2) -> str:
    """A float with `digits` decimals, "—" when missing (None or NaN)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return MISSING
    try:
        return f"{float(value):.{digits}f}"
    except (TypeError, ValueError):
        return MISSING


def text_or(value: object, missing: str = MISSING) -> str:
    """A dataset string escaped, or `missing` (escaped) when it is not a non-blank string."""
    return html.escape(value if isinstance(value, str) and value.strip() else missing)


@dataclass(frozen=True)
class Card:
    """What one example card shows, as plain values (votes and gold already named: "positive" ...)."""

    row: int
    title: object
    first_author: object  # the name to show (the id when the raw folder had no authors file)
    same_author_count: object
    polarity: object
    subjectivity: object
    votes: Sequence[tuple[str, str]]  # (LF name, vote name) in LF order
    gold: str | None  # None: the split has no gold
    review_text: object
    highlights: Sequence[tuple[Sequence[str], str]] = ()  # (keywords, match mode) groups to mark in the review


def vote_html(lf: str, vote: str) -> str:
    colour = VOTE_COLOURS.get(vote, "inherit")
    weight = "400" if vote == "abstain" else "600"
    return (f'<span class="vote" style="white-space:nowrap">{html.escape(lf)}: '
            f'<span style="color:{colour};font-weight:{weight}">{html.escape(vote)}</span></span>')


def review_html(text: object, highlights: Iterable[tuple[Iterable[str], str]] = ()) -> str:
    """The review as `<div class="review">`, keyword matches marked, or "no review"."""
    if isinstance(text, str) and text.strip():
        body = highlight_groups(text, highlights)
    else:
        body = '<em style="color:#6e7781">no review</em>'
    return f'<div class="review" style="{REVIEW_STYLE}">{body}</div>'


def card_html(card: Card) -> str:
    """One example as HTML built only from escaped pieces."""
    count = number(card.same_author_count, 0)
    gold = "no gold" if card.gold is None else f"gold: <b>{html.escape(card.gold)}</b>"
    votes = "".join(vote_html(lf, vote) for lf, vote in card.votes) or "no LF enabled"
    return (
        f'<div class="example" style="{CARD_STYLE}">'
        f'<div class="book"><b>{text_or(card.title, "untitled")}</b> · first author '
        f'{text_or(card.first_author, "unknown")}'
        f' <span style="color:#6e7781">· row {int(card.row):,}</span></div>'
        f'<div class="meta">same-author books: {count} · polarity {number(card.polarity)} · '
        f'subjectivity {number(card.subjectivity)} · {gold}</div>'
        f'<div class="votes" style="{VOTES_STYLE}">{votes}</div>'
        f'{review_html(card.review_text, card.highlights)}'
        "</div>"
    )
