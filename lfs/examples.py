"""Which rows of a split to show as examples, and what to show for each: the Examples page's engine.

An ExampleFilter is plain data, so the LF page can hand one over ("the incorrect rows of polarity_positive") and a
URL can carry one. Filters combine with AND.
"""

from __future__ import annotations

from dataclasses import dataclass

# What a filter can ask of one LF (lfs.analysis.ROW_KINDS): it fires / abstains / is correct / incorrect against
# gold / overlaps another LF / conflicts with another LF.
LF_KINDS = ("fires", "abstains", "correct", "incorrect", "overlaps", "conflicts")


@dataclass(frozen=True)
class ExampleFilter:
    split: str = "dev"
    lf: str | None = None  # an LF name (with `kind`)
    kind: str | None = None  # one of LF_KINDS; needs `lf`
    keyword: str | None = None  # rows whose text contains this keyword of `lf` (a keyword LF), as `lf` matches it
    conflicts: bool = False  # rows where the enabled LFs disagree
    uncovered: bool = False  # rows no enabled LF labels
    gold: int | None = None  # 0 or 1 (rated splits only)
    has_review: bool | None = None  # True: rows with review text; False: rows without
