"""Example code-defined LFs (see lfs/custom/__init__.py)."""

from __future__ import annotations

from snorkel.labeling import labeling_function

POSITIVE, NEGATIVE, ABSTAIN = 1, 0, -1

_SEQUEL = ("next book", "the sequel", "book two", "next one")
_EAGER = ("can't wait", "cannot wait", "excited", "need")


@labeling_function()
def wants_the_sequel(x):
    """A reviewer eager for the next book liked this one."""
    text = x.review_text
    if not isinstance(text, str):
        return ABSTAIN
    text = text.lower()
    if any(s in text for s in _SEQUEL) and any(e in text for e in _EAGER):
        return POSITIVE
    return ABSTAIN


@labeling_function()
def did_not_finish(x):
    """'DNF' (did not finish) in a review means the reader gave up on the book."""
    text = x.review_text
    if isinstance(text, str) and ("dnf" in text.lower().split() or "did not finish" in text.lower()):
        return NEGATIVE
    return ABSTAIN
