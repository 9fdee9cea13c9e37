"""Which rows of a split to show as examples, and what to show for each: the Examples page's engine.

An ExampleFilter is plain data, so the LF page can hand one over ("the incorrect rows of polarity_positive") and a
URL can carry one. Filters combine with AND.

>>> flt = from_query_params({"split": "dev", "lf": "polarity_positive", "kind": "incorrect"})
>>> to_query_params(flt)
{'split': 'dev', 'lf': 'polarity_positive', 'kind': 'incorrect'}
>>> rows = select(split, specs, L, flt)                      # doctest: +SKIP
>>> example_frame(split, specs, L, page_of(sample(rows, len(rows), seed=0), 1, 25))  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipeline.data.dataset import RATED_SPLITS, SPLITS, author_names

from .analysis import ROW_KINDS, conflict_rows, keyword_rows, lf_rows, uncovered_rows
from .spec import KeywordLF, LFSpec
from .workspace import Split

# What a filter can ask of one LF (lfs.analysis.ROW_KINDS): it fires / abstains / is correct / incorrect against
# gold / overlaps another LF / conflicts with another LF.
LF_KINDS = ROW_KINDS
GOLD_KINDS = ("correct", "incorrect")  # kinds that need gold labels


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


def check(flt: ExampleFilter, has_gold: bool | None = None) -> None:
    """ValueError naming the field when `flt` asks for something it cannot (`has_gold` None: judge by split name)."""
    if flt.kind is not None and flt.kind not in LF_KINDS:
        raise ValueError(f"kind: unknown kind {flt.kind!r}; choose one of {', '.join(LF_KINDS)}")
    for name in ("kind", "keyword"):
        if getattr(flt, name) is not None and flt.lf is None:
            raise ValueError(f"{name}: needs an LF (lf)")
    if flt.keyword is not None and not flt.keyword.strip():
        raise ValueError("keyword: is empty")
    if flt.gold is not None and flt.gold not in (0, 1):
        raise ValueError(f"gold: {flt.gold!r} is not 0 (negative) or 1 (positive)")
    if has_gold is None:
        has_gold = flt.split in RATED_SPLITS
    if not has_gold:
        if flt.gold is not None:
            raise ValueError(f"gold: the {flt.split} split has no gold labels")
        if flt.kind in GOLD_KINDS:
            raise ValueError(f"kind: '{flt.kind}' rows need gold labels, which the {flt.split} split does not have")


def _lf_index(specs: Sequence[LFSpec], name: str) -> int:
    names = [s.name for s in specs]
    if name not in names:
        raise ValueError(f"lf: no enabled LF named {name!r}; enabled: {', '.join(names) or 'none'}")
    return names.index(name)


def _own_keyword(spec: LFSpec, keyword: str) -> str:
    """`keyword` as the keyword LF `spec` spells it (matching ignores case); ValueError when it has no such one."""
    if not isinstance(spec, KeywordLF):
        raise ValueError(f"keyword: LF {spec.name!r} is a {spec.template} LF, not a keyword LF")
    known = {kw.lower(): kw for kw in spec.keywords}
    if keyword.lower() not in known:
        raise ValueError(f"keyword: {keyword!r} is not a keyword of LF {spec.name!r}")
    return known[keyword.lower()]


def review_present(split: Split) -> np.ndarray:
    """Rows with a review: a text that is not empty or blank (what a card shows as "no review" otherwise)."""
    texts = split.rows["review_text"]
    return (texts.notna() & (texts.fillna("").str.strip() != "")).to_numpy()


def select(split: Split, specs: Sequence[LFSpec], L: np.ndarray, flt: ExampleFilter) -> np.ndarray:
    """Row positions (ascending int64) of `split` that pass every part of `flt`; L = split.matrix(specs).

    ValueError, naming the field, for an unknown LF or kind, a keyword that is not one of the LF's, or gold asked
    of a split without gold.
    """
    if flt.split != split.name:
        raise ValueError(f"split: the filter is for {flt.split!r}, the rows are {split.name!r}")
    check(flt, split.gold is not None)
    if L.shape != (split.data.n, len(specs)):
        raise ValueError(f"L has shape {L.shape}, expected ({split.data.n}, {len(specs)})")
    keep = np.ones(split.data.n, dtype=bool)

    def only(positions: np.ndarray) -> np.ndarray:
        mask = np.zeros(split.data.n, dtype=bool)
        mask[positions] = True
        return mask

    if flt.lf is not None:
        j = _lf_index(specs, flt.lf)
        if flt.kind is not None:
            keep &= only(lf_rows(L, j, flt.kind, split.gold))
        if flt.keyword is not None:
            keep &= only(keyword_rows(specs[j], split.data, _own_keyword(specs[j], flt.keyword)))
    if flt.conflicts:
        keep &= only(conflict_rows(L))
    if flt.uncovered:
        keep &= only(uncovered_rows(L))
    if flt.gold is not None:
        keep &= split.gold == flt.gold
    if flt.has_review is not None:
        keep &= review_present(split) == flt.has_review
    return np.flatnonzero(keep)


# -- order and pages --------------------------------------------------------------------------------------------
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def _mix(x: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser: a fixed, well-spread hash of uint64 values (wrapping arithmetic)."""
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def sample(positions: np.ndarray, n: int | None, seed: int) -> np.ndarray:
    """A seeded random sample of `n` positions (all when None), in a random order fixed by the seed.

    Each row's place in the order depends only on the seed and the row (a hash), not on which other rows are in
    `positions`: the same seed gives the same order on every filter, a bigger `n` extends a smaller one, and a
    subset keeps the relative order it has in the whole.

    >>> sample(np.arange(10), 3, seed=1).tolist() == sample(np.arange(10), 5, seed=1)[:3].tolist()
    True
    """
    positions = np.asarray(positions, dtype=np.int64)
    if n is not None and n < 0:
        raise ValueError(f"n: {n} is negative")
    seed_mix = _mix(np.array([seed % 2**64], dtype=np.uint64) + _GOLDEN)[0]
    keys = _mix(positions.astype(np.uint64) * _GOLDEN ^ seed_mix)
    order = np.lexsort((positions, keys))
    return positions[order[:n] if n is not None else order]


def page_count(total: int, size: int) -> int:
    """Pages of `size` rows needed for `total` rows (1 when there are none: an empty first page)."""
    if size < 1:
        raise ValueError(f"page size: {size} is not positive")
    return max(1, -(-total // size))


def page_of(positions: np.ndarray, page: int, size: int) -> np.ndarray:
    """The positions on 1-based page `page` of `size` rows; a page beyond the ends is clamped to the first/last."""
    page = min(max(1, int(page)), page_count(len(positions), size))
    return positions[(page - 1) * size:page * size]


# -- what a card shows ------------------------------------------------------------------------------------------
FIXED_COLUMNS = ("title", "author", "same_author_count", "polarity", "subjectivity", "gold", "review_text")


def vote_column(name: str) -> str:
    """The example_frame column of LF `name`'s votes: its name, or "name (LF)" when that is a fixed column."""
    return f"{name} (LF)" if name in FIXED_COLUMNS else name


def example_frame(split: Split, specs: Sequence[LFSpec], L: np.ndarray, positions: np.ndarray) -> pd.DataFrame:
    """One row per position (index: the position in the split): the book's title and first author ("author": its
    name, or its id without an authors file; None for a book without authors), the same-author count, polarity and
    subjectivity (NaN when missing), one vote column per LF (-1 abstain, 0, 1; see `vote_column`), gold (nullable
    Int8, <NA> without gold) and the review text (None when missing)."""
    positions = np.asarray(positions, dtype=np.int64)
    book_idx = split.data.book_idx[positions]
    books, feats = split.data.books, split.data.features
    frame = pd.DataFrame({
        "title": books["title"].to_numpy()[book_idx],
        "author": author_names(books)[book_idx],
        "same_author_count": feats["same_author_count"].to_numpy(dtype=float)[positions],
        "polarity": feats["polarity"].to_numpy(dtype=float)[positions],
        "subjectivity": feats["subjectivity"].to_numpy(dtype=float)[positions],
    }, index=pd.Index(positions, name="row"))
    for j, spec in enumerate(specs):
        frame[vote_column(spec.name)] = L[positions, j]
    gold = split.gold[positions] if split.gold is not None else np.full(len(positions), np.nan)
    frame["gold"] = pd.array(np.where(np.isnan(gold), None, gold), dtype="Int8")
    texts = split.rows["review_text"].to_numpy()[positions]
    frame["review_text"] = [t if isinstance(t, str) else None for t in texts]
    return frame


# -- URLs -------------------------------------------------------------------------------------------------------
QUERY_PARAMS = ("split", "lf", "kind", "keyword", "conflicts", "uncovered", "gold", "has_review")
_TRUE, _FALSE = ("true", "1", "yes"), ("false", "0", "no")


def to_query_params(flt: ExampleFilter) -> dict[str, str]:
    """The filter as URL query parameters: the split always, every other field only when it is set."""
    params = {"split": flt.split}
    for name in ("lf", "kind", "keyword"):
        if getattr(flt, name) is not None:
            params[name] = getattr(flt, name)
    for name in ("conflicts", "uncovered"):
        if getattr(flt, name):
            params[name] = "true"
    if flt.gold is not None:
        params["gold"] = str(int(flt.gold))
    if flt.has_review is not None:
        params["has_review"] = "true" if flt.has_review else "false"
    return params


def _flag(name: str, value: str) -> bool:
    if value.lower() in _TRUE:
        return True
    if value.lower() in _FALSE:
        return False
    raise ValueError(f"query parameter {name!r}: {value!r} is not true or false")


def from_query_params(mapping: Mapping[str, str | Sequence[str]]) -> ExampleFilter:
    """The filter a URL carries (other parameters are ignored; a repeated one counts by its last value).

    ValueError naming the parameter for a value that cannot be right whatever the LFs are: an unknown split or
    kind, a flag that is not true/false, gold other than 0/1, gold or correct/incorrect on train, kind or keyword
    without lf.
    """
    raw = {}
    for name in QUERY_PARAMS:
        value = mapping.get(name)
        if isinstance(value, list | tuple):
            value = value[-1] if value else None
        if value is not None:
            raw[name] = str(value)
    split = raw.get("split", ExampleFilter.split)
    if split not in SPLITS:
        raise ValueError(f"query parameter 'split': {split!r} is not one of {', '.join(SPLITS)}")
    gold = raw.get("gold")
    if gold is not None and gold not in ("0", "1"):
        raise ValueError(f"query parameter 'gold': {gold!r} is not 0 (negative) or 1 (positive)")
    flt = ExampleFilter(
        split=split,
        lf=raw.get("lf") or None,
        kind=raw.get("kind") or None,
        keyword=raw.get("keyword") or None,
        conflicts=_flag("conflicts", raw["conflicts"]) if "conflicts" in raw else False,
        uncovered=_flag("uncovered", raw["uncovered"]) if "uncovered" in raw else False,
        gold=int(gold) if gold is not None else None,
        has_review=_flag("has_review", raw["has_review"]) if "has_review" in raw else None,
    )
    try:
        check(flt)
    except ValueError as e:
        field, _, detail = str(e).partition(": ")
        raise ValueError(f"query parameter {field!r}: {detail}") from None
    return flt
