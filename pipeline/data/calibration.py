"""The seed tutorial's dev-set LF table, and the comparison that says whether generated data is realistic.

Acceptance (issue: synthetic data realism): each seed LF's coverage within +-35% (relative) of the seed's,
its empirical accuracy within +-0.06, and the share of rating = 1 among labelled rows in 0.62..0.74.
"""

from __future__ import annotations

import pandas as pd

# The seed's LFAnalysis(...).lf_summary(df_dev.rating) on its 84,237 dev rows.
SEED_DEV_TABLE = pd.DataFrame(
    {
        "coverage": [0.018614, 0.043591, 0.045835, 0.017249, 0.015836],
        "overlaps": [0.004547, 0.000807, 0.013035, 0.013082, 0.003953],
        "conflicts": [0.001793, 0.000249, 0.000962, 0.002766, 0.003110],
        "correct": [1275, 2793, 3123, 1093, 727],
        "incorrect": [293, 879, 738, 360, 607],
        "emp_acc": [0.813138, 0.760621, 0.808858, 0.752237, 0.544978],
    },
    index=["stars_in_review", "shared_first_author", "polarity_positive", "subjectivity_positive",
           "polarity_negative"],
)
COVERAGE_REL_TOL = 0.35
ACCURACY_ABS_TOL = 0.06
POSITIVE_SHARE_RANGE = (0.62, 0.74)


def compare_to_seed(lf_summary: pd.DataFrame, *, coverage_rel_tol: float = COVERAGE_REL_TOL,
                    accuracy_abs_tol: float = ACCURACY_ABS_TOL) -> pd.DataFrame:
    """Side-by-side table of the seed's and a generated dev set's LF summary (snorkel's lf_summary columns).

    Returns one row per seed LF with seed and generated coverage / accuracy, their differences and `ok`, then
    the seed's and the generated overlaps and conflicts (not judged by `ok`, but what snorkel's label model
    learns from; the README's data section says what they change).
    """
    gen = lf_summary.rename(columns={"Coverage": "coverage", "Emp. Acc.": "emp_acc", "Overlaps": "overlaps",
                                     "Conflicts": "conflicts"})
    missing = [lf for lf in SEED_DEV_TABLE.index if lf not in gen.index]
    if missing:
        raise ValueError(f"LF summary lacks the seed LFs {missing}")
    out = pd.DataFrame(index=SEED_DEV_TABLE.index)
    out["seed_coverage"] = SEED_DEV_TABLE.coverage
    out["coverage"] = gen.loc[out.index, "coverage"].astype(float)
    out["coverage_rel_diff"] = out.coverage / out.seed_coverage - 1.0
    out["seed_emp_acc"] = SEED_DEV_TABLE.emp_acc
    out["emp_acc"] = gen.loc[out.index, "emp_acc"].astype(float)
    out["emp_acc_diff"] = out.emp_acc - out.seed_emp_acc
    out["ok"] = (out.coverage_rel_diff.abs() <= coverage_rel_tol) & (out.emp_acc_diff.abs() <= accuracy_abs_tol)
    for column in ("overlaps", "conflicts"):
        out[f"seed_{column}"] = SEED_DEV_TABLE[column]
        out[column] = gen.loc[out.index, column].astype(float)
    return out


def positive_share_ok(share: float) -> bool:
    lo, hi = POSITIVE_SHARE_RANGE
    return lo <= share <= hi
