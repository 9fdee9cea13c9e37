"""The retrain flags of our model (pipeline.cli.retrain.END_MODEL_FLAGS, overrides of
pipeline.training.hybrid.HybridParams)
and the Train page's parameters built from the same table: parsing, validation naming the flag or field."""

from __future__ import annotations

import argparse
from dataclasses import fields

import pytest

from pipeline.cli import main
from pipeline.cli.retrain import add_retrain_arguments, retrain_params
from pipeline.runs.registry import Registry
from pipeline.runs.settings import END_MODEL_FLAGS, LABEL_MODEL_FLAGS, layer_sizes
from pipeline.training.hybrid import HybridParams
from pipeline.training.labelmodel import LabelModelParams

FLAGS = {"--hidden": "hidden", "--like-hidden": "like_hidden", "--negatives": "negatives",
         "--learning-rate": "learning_rate", "--batch-size": "batch_size", "--epochs": "epochs",
         "--patience": "patience", "--model-seed": "seed"}


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_retrain_arguments(parser)
    return parser.parse_args(list(argv))


def test_end_model_flags_are_the_hybrid_fields():
    assert {flag: field for flag, (field, _, _) in END_MODEL_FLAGS.items()} == FLAGS
    assert set(FLAGS.values()) == {f.name for f in fields(HybridParams)} - {"max_set_size"}
    assert all(text.startswith("end model: ") for _, _, text in END_MODEL_FLAGS.values())


def test_layer_sizes_parse_like_the_old_hidden_flag():
    assert layer_sizes("64,32") == (64, 32) and layer_sizes("64, 32,") == (64, 32) and layer_sizes("") == ()
    with pytest.raises(ValueError, match=r"^expected layer sizes separated by commas, like 64,32; got '6x'$"):
        layer_sizes("6x")


def test_flags_become_validated_end_model_overrides():
    args = parse("--hidden", "64,32", "--like-hidden", "16", "--negatives", "5", "--learning-rate", "0.01",
                 "--batch-size", "128", "--epochs", "4", "--patience", "0", "--model-seed", "7")
    params = retrain_params(args)
    expected = {"hidden": (64, 32), "like_hidden": (16,), "negatives": 5, "learning_rate": 0.01, "batch_size": 128,
                "epochs": 4, "patience": 0, "seed": 7}
    assert params.end_model == expected
    assert HybridParams.from_dict(params.end_model) == HybridParams(**expected)
    assert retrain_params(parse()).end_model == {}  # only what was given is recorded
    assert retrain_params(parse("--like-hidden", "")).end_model == {"like_hidden": ()}


BAD_VALUES = [
    (["--negatives", "0"], "--negatives: HybridParams.negatives: expected an integer >= 1, got 0"),
    (["--hidden", "64,0"], "--hidden: HybridParams.hidden: expected a list of layer sizes >= 1, got (64, 0)"),
    (["--learning-rate", "0"], "--learning-rate: HybridParams.learning_rate: expected a positive finite number"),
    (["--model-seed", "-1"], "--model-seed: HybridParams.seed: expected an integer >= 0, got -1"),
]


@pytest.mark.parametrize("argv, message", [
    (["--hidden", "64,x"], "argument --hidden: expected layer sizes separated by commas, like 64,32; got '64,x'"),
    (["--embed-dim", "8"], "unrecognized arguments: --embed-dim 8"),  # fields of the old end model are gone
    (["--optimizer", "adam"], "unrecognized arguments: --optimizer adam"),
])
def test_unparseable_or_removed_flags_are_usage_errors(argv, message, capsys):
    with pytest.raises(SystemExit) as caught:
        parse(*argv)
    assert caught.value.code == 2 and message in capsys.readouterr().err


def test_the_cli_refuses_a_bad_value_before_starting_a_job(tmp_path, capsys):
    assert main(["retrain", "--data", str(tmp_path), "--patience", "-1"]) == 2
    assert "error: --patience: HybridParams.patience: expected an integer >= 0, got -1" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists() or Registry.for_data(tmp_path).list() == []


def test_the_train_page_builds_the_same_params_from_its_fields():
    from workbench.train_view import _params

    defaults, lm = HybridParams(), LabelModelParams()
    values = {flag[2:].replace("-", "_"): (field, getattr(params, field), getattr(params, field))
              for flags, params in ((LABEL_MODEL_FLAGS, lm), (END_MODEL_FLAGS, defaults))
              for flag, (field, _, _) in flags.items()}  # {dest: (field, value, default)}, as params_form
    for dest in ("hidden", "like_hidden"):  # the page's layer fields are text
        field, value, default = values[dest]
        values[dest] = (field, ",".join(map(str, value)), default)
    values["like_hidden"] = ("like_hidden", "16, 8", defaults.like_hidden)
    values["negatives"] = ("negatives", 5, defaults.negatives)
    params = _params(values, False, 300, 30)
    assert params.end_model == {"like_hidden": (16, 8), "negatives": 5}
    assert params == retrain_params(parse("--like-hidden", "16,8", "--negatives", "5"))

    values["negatives"] = ("negatives", 0, defaults.negatives)
    with pytest.raises(ValueError, match=r"^End model · HybridParams\.negatives: expected an integer >= 1, got 0$"):
        _params(values, False, 300, 30)
    values["negatives"] = ("negatives", 5, defaults.negatives)
    values["hidden"] = ("hidden", "32;32", defaults.hidden)
    with pytest.raises(ValueError, match=r"^End model · read ranker layers: expected layer sizes separated by "):
        _params(values, False, 300, 30)
    values["hidden"] = ("hidden", "32,32", defaults.hidden)
    with pytest.raises(ValueError, match=r"^Seed replica · "):
        _params(values, False, 0, 30)


# --------------------------------------------------------------------------------------------------------------
# upper limits (pipeline.training.params): a typo of a few zeros is refused before a job starts


ABOVE_LIMIT = [
    (["--epochs", str(10**9)], "--epochs: HybridParams.epochs: expected an integer <= 1000, got 1000000000"),
    (["--hidden", "64,8192"], "--hidden: HybridParams.hidden: expected layer sizes <= 4096, got (64, 8192)"),
    (["--like-hidden", ",".join(["8"] * 17)], "--like-hidden: HybridParams.like_hidden: expected at most 16 layers, "
                                             "got 17"),
    (["--negatives", "5000"], "--negatives: HybridParams.negatives: expected an integer <= 1000, got 5000"),
    (["--batch-size", str(10**6)], "--batch-size: HybridParams.batch_size: expected an integer <= 16384"),
    (["--patience", "5000"], "--patience: HybridParams.patience: expected an integer <= 1000, got 5000"),
    (["--model-seed", str(2**32)], "--model-seed: HybridParams.seed: expected an integer <= 4294967295"),
    (["--lm-epochs", str(10**6)], "--lm-epochs: label model n_epochs: expected an integer <= 100000, got 1000000"),
    (["--lm-seed", str(2**32)], "--lm-seed: label model seed: expected an integer <= 4294967295"),
    (["--replica-steps", str(10**9)], "--replica-steps: EndModelParams.steps_per_epoch: expected an integer <= "
                                      "100000, got 1000000000"),
    (["--replica-epochs", "5000"], "--replica-epochs: EndModelParams.epochs: expected an integer <= 1000, got 5000"),
    (["--replica-steps", "0"], "--replica-steps: EndModelParams.steps_per_epoch: expected an integer >= 1, got 0"),
    (["--eval-seed", "-1"], "--eval-seed: expected an integer >= 0, got -1"),
]


@pytest.mark.parametrize("argv, message", BAD_VALUES + ABOVE_LIMIT)
def test_a_bad_flag_value_is_a_value_error_naming_flag_field_and_limit(argv, message):
    with pytest.raises(ValueError) as caught:
        retrain_params(parse(*argv))
    assert str(caught.value).startswith(message)


def test_values_at_their_limit_are_accepted():
    params = retrain_params(parse("--epochs", "1000", "--hidden", "4096", "--negatives", "1000", "--lm-epochs",
                                  "100000", "--replica-steps", "100000", "--replica-epochs", "1000"))
    assert params.end_model == {"epochs": 1000, "hidden": (4096,), "negatives": 1000}
    assert params.label_model.n_epochs == 100000
    assert params.replica == {"steps_per_epoch": 100000, "validation_steps": 13333, "epochs": 1000}


def test_the_cli_refuses_an_absurd_epoch_count_before_starting_a_job(tmp_path, capsys):
    assert main(["retrain", "--data", str(tmp_path), "--epochs", str(10**9)]) == 2
    err = capsys.readouterr().err
    assert "error: --epochs: HybridParams.epochs: expected an integer <= 1000, got 1000000000" in err
    assert not (tmp_path / "runs").exists() or Registry.for_data(tmp_path).list() == []


def test_build_params_the_train_page_path_refuses_values_above_their_limit():
    from pipeline.runs.settings import build_params

    with pytest.raises(ValueError, match=r"^--epochs: HybridParams\.epochs: expected an integer <= 1000, got 10000$"):
        build_params(label_model={}, end_model={"epochs": 10_000})
    with pytest.raises(ValueError, match=r"^label model n_epochs: expected an integer <= 100000, got 1000000$"):
        build_params(label_model={"n_epochs": 10**6}, end_model={})


def test_the_train_page_refuses_values_above_their_limit():
    from workbench.train_view import _params

    defaults, lm = HybridParams(), LabelModelParams()
    values = {flag[2:].replace("-", "_"): (field, getattr(params, field), getattr(params, field))
              for flags, params in ((LABEL_MODEL_FLAGS, lm), (END_MODEL_FLAGS, defaults))
              for flag, (field, _, _) in flags.items()}
    for dest in ("hidden", "like_hidden"):
        field, value, default = values[dest]
        values[dest] = (field, ",".join(map(str, value)), default)
    for dest, value, message in (
            ("epochs", 10**9, r"^End model · HybridParams\.epochs: expected an integer <= 1000, got 1000000000$"),
            ("hidden", "32,100000", r"^End model · HybridParams\.hidden: expected layer sizes <= 4096"),
            ("lm_epochs", 10**6, r"^label model n_epochs: expected an integer <= 100000, got 1000000$")):
        bad = dict(values)
        field, _, default = values[dest]
        bad[dest] = (field, value, default)
        with pytest.raises(ValueError, match=message):
            _params(bad, False, 300, 30)
    with pytest.raises(ValueError, match=r"^Seed replica · EndModelParams\.steps_per_epoch: expected an integer "
                                         r"<= 100000"):
        _params(values, False, 10**9, 30)
    with pytest.raises(ValueError, match=r"^Seed replica · EndModelParams\.epochs: expected an integer <= 1000"):
        _params(values, False, 300, 5000)
