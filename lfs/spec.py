"""Labeling functions as data: one frozen spec per LF.

Templates
---------
keyword
    Ordered rules of (keywords, label) over a text field; the first rule with a matching keyword decides (the
    seed's "low phrases before high phrases"). Matching is case-insensitive on literals: ``substring`` (the seed's
    ``kw in text.lower()``) or ``word`` (the keyword must not touch a letter, digit or underscore on either side).
    A row whose text is missing abstains.
threshold
    ``feature OP value -> label``; a row whose feature is missing abstains.
python
    A snorkel ``@labeling_function`` defined in a module under ``lfs/`` (code, never edited from the browser),
    applied row by row by snorkel.

>>> ThresholdLF("polarity_positive", feature="polarity", op=">", value=0.3, label=1).key[:8]  # doctest: +SKIP
'3f1c9a2b'
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import ClassVar

ABSTAIN, NEGATIVE, POSITIVE = -1, 0, 1
LABELS = (NEGATIVE, POSITIVE)
LABEL_NAMES = {POSITIVE: "positive", NEGATIVE: "negative", ABSTAIN: "abstain"}

TEXT_FIELDS = ("review_text", "title", "description")
MATCH_MODES = ("substring", "word")
OPERATORS = (">", ">=", "<", "<=")

# Built-in features (lfs/features.py computes them once per prepared dataset); missing values abstain.
FEATURES: dict[str, str] = {
    "polarity": "TextBlob polarity of the review text, -1..1; missing when the row has no (or empty) text",
    "subjectivity": "TextBlob subjectivity of the review text, 0..1; missing when the row has no (or empty) text",
    "same_author_count": "distinct books in the user's book_idxs whose first author is the candidate book's first "
                         "author (the candidate included); the seed's shared_first_author is `> 15 -> 1`",
    "review_length": "number of whitespace-separated tokens in the review text; missing without text",
    "user_book_count": "number of distinct books the user interacted with (len(book_idxs))",
    "book_average_rating": "the candidate book's Goodreads average rating (1..5)",
    "book_ratings_count": "the candidate book's Goodreads ratings count",
}


class LFSpecError(ValueError):
    """An LF spec or config is invalid; the message names the LF (or file) and the field."""


def _canonical(obj: object) -> str:
    return json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


@dataclass(frozen=True)
class KeywordRule:
    keywords: tuple[str, ...]
    label: int


@dataclass(frozen=True)
class _Spec:
    """Fields every template has. `key` hashes what decides the LF's votes (not its name, note or switch)."""

    template: ClassVar[str]
    name: str
    enabled: bool = field(default=True, kw_only=True)
    note: str = field(default="", kw_only=True)

    def params(self) -> dict:
        return {k: v for k, v in asdict(self).items() if k not in ("name", "enabled", "note")}

    @property
    def key(self) -> str:
        return hashlib.sha256(_canonical([self.template, _jsonable(self.params())]).encode()).hexdigest()

    def to_dict(self) -> dict:
        return {"template": self.template, **_jsonable(asdict(self))}


def _jsonable(value):
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


@dataclass(frozen=True)
class KeywordLF(_Spec):
    template: ClassVar[str] = "keyword"
    rules: tuple[KeywordRule, ...] = ()
    field: str = "review_text"
    match: str = "substring"

    @property
    def labels(self) -> tuple[int, ...]:
        return tuple(sorted({r.label for r in self.rules}))

    @property
    def keywords(self) -> tuple[str, ...]:
        """Every rule's keywords, in rule order."""
        return tuple(kw for rule in self.rules for kw in rule.keywords)


@dataclass(frozen=True)
class ThresholdLF(_Spec):
    template: ClassVar[str] = "threshold"
    feature: str = "polarity"
    op: str = ">"
    value: float = 0.0
    label: int = POSITIVE

    @property
    def labels(self) -> tuple[int, ...]:
        return (self.label,)


@dataclass(frozen=True)
class PythonLF(_Spec):
    """`function` is "module:attribute" of a snorkel LabelingFunction in a module under lfs/."""

    template: ClassVar[str] = "python"
    function: str = ""

    @property
    def labels(self) -> tuple[int, ...]:
        return LABELS


LFSpec = KeywordLF | ThresholdLF | PythonLF
TEMPLATES: dict[str, type] = {cls.template: cls for cls in (KeywordLF, ThresholdLF, PythonLF)}
