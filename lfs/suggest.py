"""What to add next: keyword and threshold LF suggestions mined on dev and checked on val, and threshold autotune.

Keywords
    1-3 word phrases of `review_text`, book `title` and `description`, counted once per split and field over the
    rows with gold (`lfs.phrases`). A phrase votes for the label most of its dev rows have. Every suggestion ranks
    by `score`: the dev rows it votes on where the enabled LFs' majority vote abstains or is wrong, times its lift
    (how far the lower 95% Wilson bound of its accuracy lies above the label's share of dev, i.e. above voting the
    label on every row, scaled to 0..1); a lift below `min_lift` is not worth an LF. The best phrases are then
    applied by the LF engine itself (as word-mode keyword LFs), so every figure shown is what adding the LF gives,
    on dev and on val (`check`: rows never mined). Suggestions whose val accuracy is below `min_check_accuracy`
    are hidden.
Thresholds
    For every numeric feature, op and label: the threshold that maximises accuracy at coverage >= `min_coverage`
    (objective "accuracy") or coverage at accuracy >= `min_accuracy` (objective "coverage") on dev, with val
    beside it. `autotune` applies the same search to one threshold LF's feature, op and label.

Test gold is never read: callers pass the dev split and the val split.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from pipeline.data.dataset import PreparedData

from .analysis import majority_vote, wilson_interval
from .apply import LFData, label_matrix
from .features import features_dir
from .phrases import cached_tables, phrase_table
from .spec import ABSTAIN, FEATURES, LABELS, TEXT_FIELDS, KeywordLF, KeywordRule, LFSpec, ThresholdLF
from .workspace import Split, open_split

OBJECTIVES = ("accuracy", "coverage")
CANDIDATES_PER_SUGGESTION = 3  # phrases applied by the engine per keyword suggestion asked for
GRID_POINTS = 99  # candidate thresholds: quantiles of the feature's dev values
# Defaults of the limits a user sets: thresholds vote on >= 1% of dev (objective accuracy) or are >= 80% right
# (objective coverage); a suggestion's accuracy bound lies >= 0.2 of the way from its label's prior to perfect.
MIN_COVERAGE, MIN_ACCURACY, MIN_LIFT = 0.01, 0.8, 0.2


@dataclass(frozen=True)
class Figures:
    """An LF's figures on one split: labelled rows it votes on, its coverage of all rows, its accuracy."""

    rows: int
    coverage: float
    accuracy: float

    def to_dict(self) -> dict:
        return {"rows": self.rows, "coverage": self.coverage,
                "accuracy": None if np.isnan(self.accuracy) else self.accuracy}


@dataclass(frozen=True)
class Suggestion:
    spec: KeywordLF | ThresholdLF  # the LF to add (named after what it does)
    dev: Figures
    check: Figures
    adds: int  # dev rows with gold it votes on where the enabled LFs' majority vote abstains or is wrong
    lift: float  # how far the lower bound of its dev accuracy lies above voting its label everywhere, 0..1
    score: float  # adds x lift: what it ranks by

    @property
    def template(self) -> str:
        return self.spec.template

    @property
    def label(self) -> int:
        return self.spec.labels[0]

    def to_dict(self) -> dict:
        s = self.spec
        out: dict = {"template": s.template, "label": self.label, "name": s.name}
        if isinstance(s, KeywordLF):
            out |= {"keyword": s.keywords[0], "field": s.field, "match": s.match}
        else:
            out |= {"feature": s.feature, "op": s.op, "value": s.value}
        return out | {"dev": self.dev.to_dict(), "check": self.check.to_dict(), "adds": self.adds,
                      "lift": self.lift, "score": self.score}


def figures(votes: np.ndarray, gold: np.ndarray) -> Figures:
    """Figures of one LF column (int8 votes, -1 abstain) against gold (NaN = no gold)."""
    fires = votes != ABSTAIN
    labelled = fires & ~np.isnan(gold)
    n = int(labelled.sum())
    correct = int((votes[labelled] == gold[labelled]).sum())
    return Figures(n, float(fires.mean()) if len(votes) else 0.0, correct / n if n else float("nan"))


def lift(correct, total, prior: float) -> np.ndarray:
    """How far the lower 95% Wilson bound of correct/total lies above `prior` (the accuracy of voting the label on
    every row), scaled so that 1 is a perfect LF; 0 where total is 0."""
    lo = np.nan_to_num(wilson_interval(correct, total)[0], nan=prior)
    return (lo - prior) / (1.0 - prior)


@dataclass
class SuggestContext:
    """What suggestions are computed against: the dev split (mined), the val split (`check`), the enabled LFs,
    and the limits the user set."""

    dev: LFData
    dev_gold: np.ndarray
    check: LFData
    check_gold: np.ndarray
    specs: Sequence[LFSpec]
    min_lift: float = MIN_LIFT
    min_check_accuracy: float = 0.0
    L_dev: np.ndarray | None = field(default=None, repr=False)

    def __post_init__(self):
        L = label_matrix(self.specs, self.dev) if self.L_dev is None else self.L_dev
        mv = majority_vote(L) if L.shape[1] else np.full(self.dev.n, ABSTAIN, dtype=np.int8)
        labelled = ~np.isnan(self.dev_gold)
        self.useful = labelled & ((mv == ABSTAIN) | (mv != self.dev_gold))  # where an LF can help
        share = float(np.mean(self.dev_gold[labelled])) if labelled.any() else 0.5
        self.prior = {1: share, 0: 1.0 - share}

    def suggestion(self, spec: KeywordLF | ThresholdLF) -> Suggestion:
        """`spec` applied by the engine on dev and val, and ranked."""
        votes = self.dev.column(spec)
        dev = figures(votes, self.dev_gold)
        gain = float(lift(round(dev.accuracy * dev.rows) if dev.rows else 0, dev.rows, self.prior[spec.labels[0]]))
        adds = int(((votes != ABSTAIN) & self.useful).sum())
        return Suggestion(spec, dev, figures(self.check.column(spec), self.check_gold), adds, gain, adds * gain)

    def best(self, suggestions: list[Suggestion], top: int) -> list[Suggestion]:
        """The `top` suggestions by score among those that add rows, lift enough and hold up on val."""
        kept = [s for s in suggestions if s.adds > 0 and s.lift >= self.min_lift and s.check.rows > 0
                and s.check.accuracy >= self.min_check_accuracy]
        return sorted(kept, key=lambda s: -s.score)[:top]


# -- keywords ---------------------------------------------------------------------------------------------------
def _used_keywords(specs: Sequence[LFSpec], text_field: str) -> set[str]:
    return {kw.lower() for s in specs if isinstance(s, KeywordLF) and s.field == text_field for kw in s.keywords}


def keyword_name(keyword: str, label: int, text_field: str = "review_text") -> str:
    stem = re.sub(r"[^a-z0-9]+", "_", keyword.lower()).strip("_") or "phrase"
    where = "" if text_field == "review_text" else f"{text_field}_"
    return f"kw_{where}{stem}_{'pos' if label == 1 else 'neg'}"[:64]


def keyword_candidates(ctx: SuggestContext, text_field: str, n: int) -> list[tuple[str, int]]:
    """The `n` best (phrase, label) pairs of `text_field` by phrase counts alone (fast, before the engine)."""
    table = phrase_table(ctx.dev, ctx.dev_gold, text_field)
    if not len(table.phrases):
        return []
    # per phrase, its rows with gold and its positive rows: the same after every edit, so counted once
    total, pos = ctx.dev.derived(("phrase-gold", text_field), lambda: (
        table.count(~np.isnan(ctx.dev_gold)), table.count(ctx.dev_gold == 1)))
    adds = table.count(ctx.useful)
    ks, labels, scores = [], [], []
    for label, gain in ((1, lift(pos, total, ctx.prior[1])), (0, lift(total - pos, total, ctx.prior[0]))):
        score = adds * gain
        keep = np.flatnonzero((score > 0) & (gain >= ctx.min_lift))
        ks.append(keep)
        labels.append(np.full(len(keep), label))
        scores.append(score[keep])
    ks, labels, scores = np.concatenate(ks), np.concatenate(labels), np.concatenate(scores)
    order = np.lexsort((table.lengths[ks], -scores))[:n * 4]  # best first; on a tie the shorter phrase
    used = _used_keywords(ctx.specs, text_field)
    picked: list[tuple[str, int]] = []
    seen_rows: set[tuple[int, bytes]] = set()
    for k, label in zip(ks[order].tolist(), labels[order].tolist(), strict=True):
        phrase, padded = str(table.phrases[k]), f" {table.phrases[k]} "
        rows = (label, table.rows_of(k).tobytes())
        # skip a phrase in use, one with the very rows of a phrase picked before, and one inside or around a
        # phrase picked before for the same label (it finds mostly the same rows)
        if phrase in used or rows in seen_rows or any(
                lab == label and (f" {p} " in padded or padded in f" {p} ") for p, lab in picked):
            continue
        picked.append((phrase, int(label)))
        seen_rows.add(rows)
        if len(picked) == n:
            break
    return picked


def keyword_suggestions(ctx: SuggestContext, *, fields: Sequence[str] = TEXT_FIELDS, top: int = 10,
                        progress: Callable[[str], None] | None = None) -> list[Suggestion]:
    out = []
    for text_field in fields:
        if progress:
            progress(f"phrases of {text_field}")
        for phrase, label in keyword_candidates(ctx, text_field, top * CANDIDATES_PER_SUGGESTION):
            spec = KeywordLF(keyword_name(phrase, label, text_field), rules=(KeywordRule((phrase,), label),),
                             field=text_field, match="word")
            out.append(ctx.suggestion(spec))
    return ctx.best(out, top)


# -- thresholds -------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TunePoint:
    value: float
    coverage: float
    accuracy: float
    rows: int


@dataclass(frozen=True)
class SortedFeature:
    """One feature's values sorted: all observed, those with gold, and those with gold of each label; with the
    quantile grid of candidate thresholds. Built once per split and feature (they do not depend on the LFs)."""

    n: int
    grid: np.ndarray
    observed: np.ndarray
    labelled: np.ndarray
    by_label: dict[int, np.ndarray]

    @classmethod
    def of(cls, values: np.ndarray, gold: np.ndarray) -> SortedFeature:
        ok = ~np.isnan(values)
        observed = np.sort(values[ok])
        grid = np.unique(np.quantile(observed, np.linspace(0, 1, GRID_POINTS))) if len(observed) else observed
        has_gold = ok & ~np.isnan(gold)
        return cls(len(values), grid, observed, np.sort(values[has_gold]),
                   {label: np.sort(values[has_gold & (gold == label)]) for label in LABELS})


def sorted_feature(data: LFData, gold: np.ndarray, feature: str) -> SortedFeature:
    return data.derived(("sorted", feature), lambda: SortedFeature.of(data.feature(feature), gold))


def sweep_points(values: SortedFeature, op: str, label: int, grid: np.ndarray | None = None) -> pd.DataFrame:
    """Coverage (of all rows), labelled rows and accuracy of `feature op t -> label` for every t of `grid`
    (default: the feature's quantile grid), by binary search in the sorted values: no pass per threshold."""
    grid = values.grid if grid is None else np.asarray(grid, dtype=float)

    def count(sorted_values: np.ndarray) -> np.ndarray:
        if op in (">", ">="):
            return len(sorted_values) - np.searchsorted(sorted_values, grid, side="right" if op == ">" else "left")
        return np.searchsorted(sorted_values, grid, side="left" if op == "<" else "right")

    fires, rows, right = count(values.observed), count(values.labelled), count(values.by_label[label])
    accuracy = np.where(rows > 0, right / np.maximum(rows, 1), np.nan)
    return pd.DataFrame({"threshold": grid, "fires": fires, "coverage": fires / max(values.n, 1),
                         "labelled": rows, "correct": right, "accuracy": accuracy})


def best_point(points: pd.DataFrame, objective: str, *, min_coverage: float, min_accuracy: float
               ) -> TunePoint | None:
    """Highest accuracy at coverage >= min_coverage (ties: more coverage), or highest coverage at accuracy >=
    min_accuracy (ties: more accuracy); None when no threshold meets the constraint."""
    if objective not in OBJECTIVES:
        raise ValueError(f"unknown objective {objective!r}; choose one of {', '.join(OBJECTIVES)}")
    p = points[points.labelled > 0]
    if objective == "accuracy":
        p = p[p.coverage >= min_coverage].sort_values(["accuracy", "coverage"], ascending=False)
    else:
        p = p[p.accuracy >= min_accuracy].sort_values(["coverage", "accuracy"], ascending=False)
    if p.empty:
        return None
    row = p.iloc[0]
    return TunePoint(float(row.threshold), float(row.coverage), float(row.accuracy), int(row.labelled))


def threshold_name(feature: str, op: str, value: float, label: int) -> str:
    word = {">": "gt", ">=": "ge", "<": "lt", "<=": "le"}[op]
    number = f"{value:g}".replace(".", "p").replace("-", "m").replace("+", "")
    return f"{feature}_{word}_{number}_{'pos' if label == 1 else 'neg'}"


def threshold_suggestions(ctx: SuggestContext, *, objective: str = "accuracy", min_coverage: float = MIN_COVERAGE,
                          min_accuracy: float = MIN_ACCURACY, top: int = 10, features: Sequence[str] | None = None
                          ) -> list[Suggestion]:
    out = []
    used = {(s.feature, s.op, s.label) for s in ctx.specs if isinstance(s, ThresholdLF)}
    names = [f for f in (features or FEATURES) if f in ctx.dev.features]
    for feature in names:
        values = sorted_feature(ctx.dev, ctx.dev_gold, feature)
        for op in (">", "<"):
            for label in LABELS:
                if (feature, op, label) in used:
                    continue
                point = best_point(sweep_points(values, op, label), objective,
                                   min_coverage=min_coverage, min_accuracy=min_accuracy)
                if point is not None:
                    spec = ThresholdLF(threshold_name(feature, op, point.value, label), feature=feature, op=op,
                                       value=point.value, label=label)
                    out.append(ctx.suggestion(spec))
    return ctx.best(out, top)


def autotune(spec: ThresholdLF, data: LFData, gold: np.ndarray, *, objective: str = "accuracy",
             min_coverage: float = MIN_COVERAGE, min_accuracy: float = MIN_ACCURACY) -> TunePoint:
    """The value of `spec` (its feature, op and label kept) that best meets the objective on `data` (dev)."""
    if not isinstance(spec, ThresholdLF):
        raise ValueError(f"LF {spec.name!r} is a {spec.template} LF: only threshold LFs can be autotuned")
    point = best_point(sweep_points(sorted_feature(data, gold, spec.feature), spec.op, spec.label), objective,
                       min_coverage=min_coverage, min_accuracy=min_accuracy)
    if point is None:
        want = (f"coverage >= {min_coverage:g}" if objective == "accuracy" else f"accuracy >= {min_accuracy:g}")
        raise ValueError(f"LF {spec.name!r}: no value of {spec.feature} {spec.op} ... reaches {want} on dev")
    return point


def suggest(ctx: SuggestContext, *, top: int = 10, objective: str = "accuracy", min_coverage: float = MIN_COVERAGE,
            min_accuracy: float = MIN_ACCURACY, fields: Sequence[str] = TEXT_FIELDS,
            progress: Callable[[str], None] | None = None) -> list[Suggestion]:
    """Keyword and threshold suggestions together, best first."""
    both = keyword_suggestions(ctx, fields=fields, top=top, progress=progress)
    both += threshold_suggestions(ctx, objective=objective, min_coverage=min_coverage, min_accuracy=min_accuracy,
                                  top=top)
    return sorted(both, key=lambda s: -s.score)[:top]


def open_context(prepared: PreparedData, specs: Sequence[LFSpec], *, dev: Split | None = None,
                 check: Split | None = None, fields: Sequence[str] = TEXT_FIELDS, **limits) -> SuggestContext:
    """A SuggestContext on the prepared data's dev (mined) and val (check) splits, the phrase tables read from
    beside the feature cache (built and written there the first time). `limits`: min_lift, min_check_accuracy."""
    dev = dev or open_split(prepared, "dev")
    check = check or open_split(prepared, "val")
    cached_tables(dev.data, dev.gold, features_dir(prepared), fingerprint=prepared.manifest.get("fingerprint"),
                  split=dev.name, fields=fields)
    return SuggestContext(dev.data, dev.gold, check.data, check.gold, specs, **limits)
