"""The model in use (pipeline.runs.registry's history, pipeline.runs.promotion's rule) on a real SQLite registry:
the first model, a better, a worse and a switched-off run, promoting and rolling back by hand, the refused cases,
the migration from schema 3, and `python -m pipeline runs promote|rollback|list|show`.

The rule's runs are recorded straight into the real registry with their metrics (and, where intervals matter, their
per-row test scores) and a model file; `apply_rule` is the code the retrain job runs when a run succeeds. The real
trained runs (tests/runs_fixtures.py) show the rule as a retrain applies it and promote a real model by hand."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from pipeline.cli import main
from pipeline.runs.promotion import FIRST_MODEL, apply_rule
from pipeline.runs.registry import MIGRATIONS, SCHEMA_VERSION, SEEDED_REASON, Registry
from tests.interval_fixtures import metrics_from, scores
from tests.runs_fixtures import copy_folder


def figures(f1: float = 0.6, roc_auc: float = 0.7, hr: float = 0.3, ndcg: float = 0.15) -> dict:
    return {"contenders": {"ours": {"f1": f1, "roc_auc": roc_auc, "hr@10": hr, "ndcg@10": ndcg},
                           "popularity": {"f1": 0.5, "hr@10": 0.2}}}


def record(reg: Registry, metrics: dict | None = None, *, status: str = "succeeded", ev=None,
           model: bytes | None = b"m", params: dict | None = None) -> int:
    """A run through the real registry, as a job leaves it: metrics, per-row scores, a model file, its end."""
    run_id = reg.create(dataset_fingerprint="fp", lf_config_toml="schema_version = 1\n", lf_config_hash="ab" * 32,
                        params=params or {})
    reg.start(run_id, os.getpid())
    folder = reg.runs_dir(run_id)
    folder.mkdir(parents=True, exist_ok=True)
    if metrics is not None:
        reg.put_result(run_id, "metrics", metrics)
    if ev is not None:
        ev.save(folder / "eval_scores.npz")
        reg.set_artifacts(run_id, {"eval_scores": "eval_scores.npz"})
    if model is not None:
        (folder / "model.keras").write_bytes(model)
        reg.set_artifacts(run_id, {"model": "model.keras"})
    if status != "running":
        reg.finish(run_id, status, None if status == "succeeded" else "boom")
    return run_id


def succeeded(reg: Registry, metrics: dict | None = None, **kwargs) -> tuple[int, dict]:
    """A succeeded run and the outcome of the rule its job applies."""
    run_id = record(reg, metrics, **kwargs)
    return run_id, apply_rule(reg, run_id)


def in_use(reg: Registry) -> tuple[int, str] | None:
    found = reg.model_in_use()
    return None if found is None else (found[0].id, found[1])


@pytest.fixture
def reg(tmp_path: Path) -> Registry:
    return Registry.for_data(tmp_path / "data")


# --------------------------------------------------------------------------------------------------------------
# the rule


def test_first_better_worse_and_switched_off(reg: Registry) -> None:
    assert reg.model_in_use() is None and reg.current_model() is None and reg.in_use_history() == []
    first, outcome = succeeded(reg, figures())
    assert outcome == {"promoted": True, "reason": FIRST_MODEL, "compared_with": None}
    assert in_use(reg) == (first, FIRST_MODEL) and reg.current_model().id == first

    better, outcome = succeeded(reg, figures(f1=0.65))
    assert outcome["promoted"] and in_use(reg) == (better, f"auto: not worse than run {first}")

    worse, outcome = succeeded(reg, figures(f1=0.55, hr=0.2, ndcg=0.16))
    reason = f"not promoted: worse on F1, HR@10 than run {better}"
    assert outcome == {"promoted": False, "reason": reason, "compared_with": better}
    assert reg.results(worse)["promotion"]["reason"] == reason and in_use(reg)[0] == better

    off, outcome = succeeded(reg, figures(f1=0.9), params={"auto_promote": False})
    assert outcome["reason"] == "not promoted: auto-promotion off" and in_use(reg)[0] == better

    failed = record(reg, figures(f1=0.99), status="failed")
    assert reg.current_model().id == better and failed != better
    history = reg.in_use_history()
    assert [(h.run_id, h.by) for h in history] == [(better, "auto"), (first, "auto")]
    assert history[0].at >= history[1].at


def test_the_first_model_is_taken_even_with_auto_promotion_off(reg: Registry) -> None:
    run_id, outcome = succeeded(reg, figures(), params={"auto_promote": False})
    assert outcome["promoted"] and in_use(reg) == (run_id, FIRST_MODEL)


def test_intervals_decide_where_they_exist(reg: Registry) -> None:
    """Our model ranks better in run A (HR@10 = 1) than in B (HR@10 = 0); the classification scores are the same."""
    good, bad = scores(better_ranks=True), scores(better_ranks=False)
    first, _ = succeeded(reg, metrics_from(bad), ev=bad)
    # a plainly lower recorded F1, but the paired interval of the F1 delta is [0, 0]: not worse, promoted
    looks_worse = metrics_from(good)
    looks_worse["contenders"]["ours"]["f1"] -= 0.1
    second, outcome = succeeded(reg, looks_worse, ev=good)
    assert outcome["promoted"] and in_use(reg)[0] == second
    third, outcome = succeeded(reg, metrics_from(bad), ev=bad)
    assert outcome["reason"] == f"not promoted: worse on HR@10, NDCG@10 than run {second}"
    assert in_use(reg)[0] == second and third > second > first


def test_a_promotion_the_registry_refuses_is_recorded_as_not_promoted(reg: Registry) -> None:
    first, _ = succeeded(reg, figures())
    no_model, outcome = succeeded(reg, figures(f1=0.7), model=None)
    assert not outcome["promoted"]
    assert outcome["reason"] == "not promoted: it recorded no model file"
    assert in_use(reg)[0] == first and reg.results(no_model)["promotion"]["promoted"] is False


# --------------------------------------------------------------------------------------------------------------
# by hand


def test_promote_and_rollback_by_hand(reg: Registry) -> None:
    first, _ = succeeded(reg, figures())
    worse, _ = succeeded(reg, figures(f1=0.1))
    assert in_use(reg)[0] == first
    reg.promote(worse, "I know better", "by hand")
    assert in_use(reg) == (worse, "I know better") and reg.in_use_history()[0].by == "by hand"
    assert reg.rollback() == first
    assert in_use(reg) == (first, f"rolled back from run {worse}")
    assert reg.rollback() == worse  # the previous model in use is now `worse` again
    assert [h.run_id for h in reg.in_use_history()] == [worse, first, worse, first]


def test_refusals_name_the_run_and_change_nothing(reg: Registry) -> None:
    with pytest.raises(ValueError, match="no model is in use yet: there is nothing to roll back"):
        reg.rollback()
    first, _ = succeeded(reg, figures())
    with pytest.raises(ValueError, match=f"run {first} is the only model ever in use"):
        reg.rollback()
    failed = record(reg, figures(), status="failed")
    cancelled = record(reg, figures(), status="cancelled")
    running = record(reg, figures(), status="running")
    reg.finish(running, "succeeded")
    empty = record(reg, figures(), model=b"")
    missing = record(reg, figures())
    (reg.runs_dir(missing) / "model.keras").unlink()
    running = record(reg, figures(), status="running")
    before = reg.in_use_history()
    cases = {failed: "it failed; only a succeeded run has a model",
             cancelled: "it was cancelled; only a succeeded run has a model",
             running: "it is running; only a succeeded run has a model",
             empty: "its model file .*model.keras is empty",
             missing: "its model file .*model.keras is missing"}
    for run_id, why in cases.items():
        with pytest.raises(ValueError, match=f"^run {run_id} cannot be the model in use: {why}$"):
            reg.promote(run_id, "try", "by hand")
    with pytest.raises(ValueError, match="no run 99 in"):
        reg.promote(99, "try", "by hand")
    assert reg.in_use_history() == before and in_use(reg)[0] == first

    # the earlier model lost its file: a rollback to it is refused too
    second = record(reg, figures())
    reg.promote(second, "by hand", "by hand")
    (reg.runs_dir(first) / "model.keras").unlink()
    with pytest.raises(ValueError, match=f"^run {first} cannot be the model in use: its model file"):
        reg.rollback()
    assert in_use(reg)[0] == second


# --------------------------------------------------------------------------------------------------------------
# migration


def schema3_registry(path: Path, statuses: list[str]) -> None:
    """A registry file as schema 3 left it, with runs of these statuses (ids 1, 2, ...)."""
    path.parent.mkdir(parents=True)
    conn = sqlite3.connect(path, isolation_level=None)
    for step in MIGRATIONS[:3]:
        for statement in step:
            conn.execute(statement)
    conn.execute("PRAGMA user_version = 3")
    for i, status in enumerate(statuses, 1):
        conn.execute("INSERT INTO runs (id, created_at, finished_at, status, dataset_fingerprint, lf_config_toml, "
                     "lf_config_hash) VALUES (?, ?, ?, ?, 'fp', '', 'h')",
                     (i, f"2026-01-0{i}T00:00:00.000+00:00", f"2026-01-0{i}T01:00:00.000+00:00", status))
    conn.close()


def test_migration_from_schema_3_seeds_the_history_with_the_newest_succeeded_run(tmp_path: Path) -> None:
    path = tmp_path / "data" / "runs" / "registry.sqlite"
    schema3_registry(path, ["succeeded", "succeeded", "failed"])
    reg = Registry(path)
    assert reg.schema_version() == SCHEMA_VERSION == 4
    assert in_use(reg) == (2, SEEDED_REASON)
    (entry,) = reg.in_use_history()
    assert (entry.run_id, entry.by) == (2, "migration") and entry.at.endswith("+00:00")
    assert [r.id for r in reg.list()] == [3, 2, 1]  # the runs are untouched

    empty = tmp_path / "other" / "runs" / "registry.sqlite"
    schema3_registry(empty, ["failed"])
    assert Registry(empty).model_in_use() is None


# --------------------------------------------------------------------------------------------------------------
# the command line


def test_cli_promote_rollback_list_show_and_errors(tmp_path: Path, capsys) -> None:
    data = tmp_path / "data"
    assert main(["runs", "rollback", "--data", str(data)]) == 2
    assert "no model is in use: there is no run registry" in capsys.readouterr().err
    reg = Registry.for_data(data)
    first, _ = succeeded(reg, figures())
    worse, _ = succeeded(reg, figures(f1=0.1))
    failed = record(reg, figures(), status="failed")
    capsys.readouterr()

    assert main(["runs", "list", "--data", str(data)]) == 0
    rows = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()[1:]}
    assert "succeeded (in use)" in rows[str(first)] and "(in use)" not in rows[str(worse)]
    assert main(["runs", "show", str(worse), "--data", str(data)]) == 0
    shown = capsys.readouterr().out
    assert f"in use     no (run {first} is)" in shown
    assert f"promotion  not promoted: worse on F1 than run {first}" in shown

    assert main(["runs", "promote", str(worse), "--data", str(data), "--reason", "fresher data"]) == 0
    assert capsys.readouterr().out.strip() == f"run {worse} is the model in use (fresher data)"
    assert main(["runs", "show", str(worse), "--data", str(data)]) == 0
    assert "in use     yes: its model is the model in use" in capsys.readouterr().out

    assert main(["runs", "promote", str(failed), "--data", str(data)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: run {failed} cannot be the model in use: it failed")
    assert main(["runs", "promote", "99", "--data", str(data)]) == 2
    assert "error: no run 99 in" in capsys.readouterr().err
    assert reg.current_model().id == worse

    assert main(["runs", "rollback", "--data", str(data)]) == 0
    assert capsys.readouterr().out.strip() == f"run {first} is the model in use (rolled back from run {worse})"
    assert main(["runs", "promote", str(first), "--data", str(data)]) == 0
    assert capsys.readouterr().out.strip() == f"run {first} is the model in use (promoted by hand)"


# --------------------------------------------------------------------------------------------------------------
# real retrains


@pytest.mark.slow
def test_real_retrains_apply_the_rule_and_a_real_model_is_promoted(trained_two_runs, tmp_path: Path,
                                                                  capsys) -> None:
    """Run 1 (the default LF config) became the first model in its job; run 2 (one LF removed) was judged against
    it; either can be put in use by hand, and `recommend` follows the model in use."""
    data = copy_folder(trained_two_runs, tmp_path / "data")
    reg = Registry.for_data(data)
    assert reg.results(1)["promotion"] == {"promoted": True, "reason": FIRST_MODEL, "compared_with": None}
    outcome = reg.results(2)["promotion"]
    assert outcome["compared_with"] == 1
    assert outcome["reason"] == "auto: not worse than run 1" if outcome["promoted"] else \
        outcome["reason"].startswith("not promoted: worse on ")
    other = 1 if reg.current_model().id == 2 else 2
    assert main(["runs", "promote", str(other), "--data", str(data)]) == 0
    assert reg.current_model().id == other
    capsys.readouterr()
    assert main(["recommend", "--data", str(data), "--user", "0", "-k", "3"]) == 0
    assert len(capsys.readouterr().out.strip().splitlines()) == 4
    (reg.runs_dir(other) / "model.keras").unlink()
    assert main(["runs", "rollback", "--data", str(data)]) == 0
    assert main(["runs", "promote", str(other), "--data", str(data)]) == 2
    assert "model.keras is missing" in capsys.readouterr().err


def test_the_switch_is_a_retrain_flag_and_recorded_in_the_params() -> None:
    from pipeline.cli import build_parser
    from pipeline.cli.retrain import retrain_params
    from pipeline.runs.retrain import RetrainParams

    off = retrain_params(build_parser().parse_args(["retrain", "--no-auto-promote"]))
    on = retrain_params(build_parser().parse_args(["retrain"]))
    assert off.to_dict()["auto_promote"] is False and on.to_dict()["auto_promote"] is True
    assert RetrainParams.from_dict(off.to_dict()) == off
    assert RetrainParams.from_dict({k: v for k, v in on.to_dict().items() if k != "auto_promote"}) == on  # old runs
