"""LF config files: the default is the seed's five LFs, dumps/parse round-trip, and every bad input gets one clear
error naming the file, the LF and the field."""

from __future__ import annotations

import pytest

from lfs.config import (
    DEFAULT_CONFIG_PATH,
    LFConfig,
    dumps_config,
    load_config,
    load_default,
    parse_config,
    spec_from_dict,
    validate_spec,
)
from lfs.spec import KeywordLF, KeywordRule, LFSpecError, PythonLF, ThresholdLF
from tests.seed_lfs import high_rating_strs, low_rating_strs


def _config(*tables: str) -> str:
    return "schema_version = 1\n" + "".join(f"\n[[lf]]\n{t.strip()}\n" for t in tables)


THRESHOLD = 'name = "p"\ntemplate = "threshold"\nfeature = "polarity"\nop = ">"\nvalue = 0.3\nlabel = 1'
KEYWORD = 'name = "k"\ntemplate = "keyword"\nfield = "review_text"\nmatch = "substring"\n' \
          'rules = [{ label = 0, keywords = ["one star"] }]'


def _with(base: str, key: str, value: str | None) -> str:
    """`base` with `key = value` replaced (value None: the line removed; key absent: the line added)."""
    lines = [line for line in base.splitlines() if not line.startswith(f"{key} =")]
    return "\n".join(lines + ([f"{key} = {value}"] if value is not None else []))


def _rules(value: str) -> str:
    return _with(KEYWORD, "rules", value)


# ---------------------------------------------------------------------------------------------------------------------
# The default config


def test_default_config_is_the_seeds_five_lfs():
    cfg = load_default()
    assert cfg.names == ("stars_in_review", "shared_first_author", "polarity_positive", "subjectivity_positive",
                         "polarity_negative")
    stars = cfg.get("stars_in_review")
    assert isinstance(stars, KeywordLF)
    assert (stars.field, stars.match) == ("review_text", "substring")
    assert stars.rules == (KeywordRule(tuple(low_rating_strs), 0), KeywordRule(tuple(high_rating_strs), 1))
    expected = {
        "shared_first_author": ("same_author_count", ">", 15.0, 1),
        "polarity_positive": ("polarity", ">", 0.3, 1),
        "subjectivity_positive": ("subjectivity", ">", 0.75, 1),
        "polarity_negative": ("polarity", "<", 0.0, 0),
    }
    for name, params in expected.items():
        spec = cfg.get(name)
        assert isinstance(spec, ThresholdLF)
        assert (spec.feature, spec.op, spec.value, spec.label) == params
        assert isinstance(spec.value, float)
    assert all(s.enabled and s.note for s in cfg)
    assert cfg.enabled() == cfg.lfs
    assert load_config(DEFAULT_CONFIG_PATH) == cfg


# ---------------------------------------------------------------------------------------------------------------------
# Round trip and key


def _every_kind() -> LFConfig:
    return LFConfig((
        KeywordLF("stars", rules=(KeywordRule(("one star", "1 star"), 0), KeywordRule(("5 stars",), 1))),
        KeywordLF("title_words", rules=(KeywordRule(("Vol. 2", "c++", "(abridged)"), 0),), field="title",
                  match="word", note='Say "hi" — naïve ünïcode, \'quotes\'\nand a second line'),
        ThresholdLF("neg", feature="polarity", op="<=", value=-0.25, label=0, enabled=False),
        ThresholdLF("many-books", feature="user_book_count", op=">=", value=100, label=1),
        PythonLF("custom", function="lfs.custom.examples:did_not_finish", note="code, not data"),
    ))


def test_round_trip_every_template():
    cfg = _every_kind()
    text = dumps_config(cfg)
    assert parse_config(text) == cfg
    assert dumps_config(parse_config(text)) == text
    assert "enabled = false" in text and text.count("enabled") == 1
    assert 'function = "lfs.custom.examples:did_not_finish"' in text
    assert cfg.get("many-books").value == 100.0 and isinstance(cfg.get("many-books").value, float)
    assert parse_config(dumps_config(load_default())) == load_default()


def test_inline_rules_read_like_rule_tables():
    inline = parse_config(_config(KEYWORD))
    rule_table = '\n[[lf.rules]]\nlabel = 0\nkeywords = ["one star"]\n'
    tables = parse_config(_config(_with(KEYWORD, "rules", None)) + rule_table)
    assert inline == tables


def test_key_is_stable_across_formatting_and_changes_with_content():
    text = dumps_config(load_default())
    reformatted = "# a comment\n" + text.replace(" = ", "   =   ").replace("\n\n", "\n\n\n# another\n")
    assert parse_config(reformatted).key == load_default().key
    edited = load_default().replace("polarity_positive", ThresholdLF("polarity_positive", feature="polarity",
                                                                      op=">", value=0.4, label=1))
    assert edited.key != load_default().key


def test_keywords_trimmed_and_deduplicated_case_insensitively():
    cfg = parse_config(_config(_rules('[{ label = 0, keywords = ["  one star ", "One Star", "two star"] },'
                                      ' { label = 1, keywords = ["5 stars", "ONE STAR"] }]')))
    assert cfg.get("k").rules == (KeywordRule(("one star", "two star"), 0), KeywordRule(("5 stars",), 1))


def test_config_helpers_return_new_validated_configs():
    cfg = load_default()
    extra = ThresholdLF("long_review", feature="review_length", op=">", value=200, label=1)
    added = cfg.add(extra)
    assert added.names[-1] == "long_review" and cfg.names[-1] == "polarity_negative"
    assert added.remove("long_review") == cfg
    off = cfg.replace("polarity_negative", ThresholdLF("polarity_negative", feature="polarity", op="<", value=0.0,
                                                       label=0, enabled=False))
    assert [s.name for s in off.enabled()] == list(cfg.names[:4])
    renamed = cfg.replace("polarity_negative", ThresholdLF("pol_neg", feature="polarity", op="<", value=0, label=0))
    assert renamed.names[4] == "pol_neg"
    with pytest.raises(LFSpecError, match=r"LF 'polarity_positive', field 'name': duplicate name"):
        cfg.add(ThresholdLF("polarity_positive", feature="polarity", op=">", value=0.5, label=1))
    with pytest.raises(LFSpecError, match=r"LF 'x', field 'value': must be a number"):
        cfg.add(ThresholdLF("x", feature="polarity", op=">", value="0.5", label=1))
    with pytest.raises(KeyError, match="no LF named 'nope'"):
        cfg.remove("nope")


# ---------------------------------------------------------------------------------------------------------------------
# Errors: one LFSpecError naming the LF and the field

BAD_LFS = [
    ("unknown template", 'name = "t"\ntemplate = "regex"', "LF 't'", "template", "unknown template 'regex'"),
    ("typo in a key", _with(THRESHOLD, "treshold", "0.3"), "LF 'p'", "treshold", "unknown key 'treshold'"),
    ("unknown feature", _with(THRESHOLD, "feature", '"polarty"'), "LF 'p'", "feature",
     "unknown feature 'polarty' (did you mean 'polarity'?); known: polarity, subjectivity, same_author_count"),
    ("unknown operator", _with(THRESHOLD, "op", '"=>"'), "LF 'p'", "op", "unknown operator '=>'"),
    ("string value", _with(THRESHOLD, "value", '"0.3"'), "LF 'p'", "value", "must be a number, got '0.3' (a string)"),
    ("bool value", _with(THRESHOLD, "value", "true"), "LF 'p'", "value", "got True (a boolean)"),
    ("nan value", _with(THRESHOLD, "value", "nan"), "LF 'p'", "value", "finite"),
    ("inf value", _with(THRESHOLD, "value", "-inf"), "LF 'p'", "value", "finite"),
    ("missing value", _with(THRESHOLD, "value", None), "LF 'p'", "value", "missing"),
    ("label 2", _with(THRESHOLD, "label", "2"), "LF 'p'", "label", "must be one of 0, 1, got 2"),
    ("label abstain", _with(THRESHOLD, "label", "-1"), "LF 'p'", "label", "must be one of 0, 1"),
    ("label bool", _with(THRESHOLD, "label", "true"), "LF 'p'", "label", "must be one of 0, 1"),
    ("enabled string", _with(THRESHOLD, "enabled", '"yes"'), "LF 'p'", "enabled", "true or false"),
    ("rule label", _rules('[{ label = 2, keywords = ["x"] }]'), "LF 'k'", "rules", "rule 1, label"),
    ("no rules", _rules("[]"), "LF 'k'", "rules", "at least one rule"),
    ("no keywords", _rules("[{ label = 0, keywords = [] }]"), "LF 'k'", "rules", "rule 1, keywords"),
    ("keywords a string", _rules('[{ label = 0, keywords = "one star" }]'), "LF 'k'", "rules", "array of strings"),
    ("blank keyword", _rules('[{ label = 0, keywords = ["ab"] }, { label = 1, keywords = ["bc", "  "] }]'), "LF 'k'",
     "rules", "rule 2, keyword 2: must not be empty"),
    ("control character", _rules('[{ label = 0, keywords = ["bad\\u0000"] }]'), "LF 'k'", "rules",
     "control character"),
    ("keyword too long", _rules(f'[{{ label = 0, keywords = ["{"x" * 201}"] }}]'), "LF 'k'", "rules",
     "201 characters long"),
    ("keyword not a string", _rules("[{ label = 0, keywords = [5] }]"), "LF 'k'", "rules", "must be a string"),
    ("rule key typo", _rules('[{ label = 0, keyword = ["x"] }]'), "LF 'k'", "rules", "unknown key 'keyword'"),
    ("unknown field", _with(KEYWORD, "field", '"body"'), "LF 'k'", "field", "unknown field 'body'"),
    ("unknown match", _with(KEYWORD, "match", '"regex"'), "LF 'k'", "match", "unknown match mode 'regex'"),
    ("empty name", _with(THRESHOLD, "name", '""'), "LF #2", "name", "must not be empty"),
    ("missing name", _with(THRESHOLD, "name", None), "LF #2", "name", "missing"),
    ("name with a space", _with(THRESHOLD, "name", '"my lf"'), "LF #2", "name", "letters, digits"),
    ("name too long", _with(THRESHOLD, "name", f'"{"n" * 65}"'), "LF #2", "name", "at most 64"),
    ("python outside lfs", 'name = "py"\ntemplate = "python"\nfunction = "os:system"', "LF 'py'", "function",
     "module under 'lfs.'"),
    ("python no attribute", 'name = "py"\ntemplate = "python"\nfunction = "lfs.custom.example"', "LF 'py'",
     "function", "'module:attribute'"),
    ("one-character keyword", _rules('[{ label = 0, keywords = ["one star", " e "] }]'), "LF 'k'", "rules",
     "rule 1, keyword 2: 'e' is too short; a keyword needs at least 2 characters"),
    ("python module missing", 'name = "py"\ntemplate = "python"\nfunction = "lfs.custom.nope:wants_the_sequel"',
     "LF 'py'", "function", "cannot import module 'lfs.custom.nope' (ModuleNotFoundError: "),
    ("python function missing", 'name = "py"\ntemplate = "python"\nfunction = "lfs.custom.examples:nope"',
     "LF 'py'", "function", "module 'lfs.custom.examples' has no function 'nope'"),
    ("python not an LF", 'name = "py"\ntemplate = "python"\nfunction = "lfs.custom.examples:labeling_function"',
     "LF 'py'", "function", "'lfs.custom.examples:labeling_function' is not a snorkel LabelingFunction"),
    ("deep note", _with(THRESHOLD, "note", "[" * 50 + "]" * 50), "LF 'p'", "note",
     "is nested more than 8 levels deep"),
    ("deep keywords", _rules("[{ label = 0, keywords = " + "[" * 50 + '"x"' + "]" * 50 + " }]"), "LF 'k'", "rules",
     "is nested more than 8 levels deep"),
]


@pytest.mark.parametrize(("case", "table", "lf", "field", "detail"), BAD_LFS, ids=[c[0] for c in BAD_LFS])
def test_bad_lf_gets_one_error_naming_file_lf_and_field(tmp_path, case, table, lf, field, detail):
    path = tmp_path / "bad.toml"
    path.write_text(_config(THRESHOLD.replace('"p"', '"ok"'), table), encoding="utf-8")
    with pytest.raises(LFSpecError) as err:
        load_config(path)
    message = str(err.value)
    assert message.startswith(str(path))
    assert f"{lf}, field '{field}': " in message
    assert detail in message
    assert (err.value.lf, err.value.field) == (lf, field)


def test_error_names_the_line_of_the_field(tmp_path):
    path = tmp_path / "lfs.toml"
    path.write_text(_config(KEYWORD, _with(THRESHOLD, "value", '"0.3"')), encoding="utf-8")
    with pytest.raises(LFSpecError) as err:
        load_config(path)
    line = path.read_text().splitlines().index('value = "0.3"') + 1
    assert str(err.value) == f"{path}:{line}: LF 'p', field 'value': must be a number, got '0.3' (a string)"


def test_duplicate_names():
    with pytest.raises(LFSpecError, match=r"<config>:\d+: LF 'p', field 'name': duplicate name \(also LF #1\)"):
        parse_config(_config(THRESHOLD, THRESHOLD))


@pytest.mark.parametrize(("text", "detail"), [
    ('[[lf]]\nname = "p"', "missing 'schema_version'"),
    ("schema_version = 2\n", "unsupported schema_version 2"),
    ('schema_version = "1"\n', "unsupported schema_version '1'"),
    ('schema_version = 1\n[[lfs]]\nname = "p"', "unknown top-level key 'lfs'"),
])
def test_bad_schema(text, detail):
    with pytest.raises(LFSpecError, match="^x.toml: ") as err:
        parse_config(text, source="x.toml")
    assert detail in str(err.value)


def test_malformed_toml_names_file_and_line(tmp_path):
    path = tmp_path / "broken.toml"
    path.write_text('schema_version = 1\n\n[[lf]]\nname = "p\n', encoding="utf-8")
    with pytest.raises(LFSpecError) as err:
        load_config(path)
    assert str(err.value).startswith(f"{path}: not valid TOML: ")
    assert "line 4" in str(err.value)


def test_missing_file_is_an_lf_spec_error(tmp_path):
    with pytest.raises(LFSpecError, match="nope.toml: cannot read"):
        load_config(tmp_path / "nope.toml")


# ---------------------------------------------------------------------------------------------------------------------
# One spec, as the UI edits it


def test_validate_spec_normalizes_and_reports_without_a_file():
    spec = KeywordLF("k", rules=(KeywordRule((" one star", "ONE STAR ", "two star"), 0),))
    assert validate_spec(spec).rules == (KeywordRule(("one star", "two star"), 0),)
    assert validate_spec(ThresholdLF("p", feature="polarity", op=">", value=1, label=1)).value == 1.0
    with pytest.raises(LFSpecError) as err:
        validate_spec(ThresholdLF("p", feature="polarity", op=">", value="0.3", label=1))
    assert str(err.value) == "LF 'p', field 'value': must be a number, got '0.3' (a string)"
    with pytest.raises(LFSpecError, match=r"^LF 'k', field 'rules': rule 1, keywords: must be an array"):
        validate_spec(KeywordLF("k", rules=(KeywordRule("one star", 0),)))


def test_spec_from_dict_round_trips_to_dict():
    for spec in _every_kind():
        assert spec_from_dict(spec.to_dict()) == spec
    with pytest.raises(LFSpecError, match=r"^f.toml: LF #3, field 'name'"):
        spec_from_dict({"template": "python", "function": "lfs.a:b"}, "f.toml", index=3)


# ---------------------------------------------------------------------------------------------------------------------
# Hostile input: nesting deeper than Python can recurse, code that does not load


@pytest.mark.parametrize("value", [
    "[" * 10_000 + "]" * 10_000,
    "{ a = " * 10_000 + "1" + " }" * 10_000,
], ids=["arrays", "inline tables"])
@pytest.mark.parametrize("where", ["top level", "inside an LF"])
def test_deep_nesting_is_a_validation_error_naming_the_file(tmp_path, value, where):
    path = tmp_path / "deep.toml"
    text = f"x = {value}\n" + _config(THRESHOLD) if where == "top level" else _config(_with(THRESHOLD, "note", value))
    path.write_text(text, encoding="utf-8")
    with pytest.raises(LFSpecError) as err:
        load_config(path)
    assert str(err.value).startswith(f"{path}: not a valid LF config: arrays or inline tables nested too deeply")


def test_deep_nesting_from_python_is_a_validation_error():
    deep: list = ["x"]
    for _ in range(10_000):
        deep = [deep]
    with pytest.raises(LFSpecError, match=r"^f.toml: LF 'k', field 'rules': is nested more than 8 levels deep$"):
        spec_from_dict({"name": "k", "template": "keyword", "rules": [{"label": 0, "keywords": deep}]}, "f.toml")
    with pytest.raises(LFSpecError, match=r"^LF 'k', field 'rules': is nested more than 8 levels deep$"):
        validate_spec(KeywordLF("k", rules=(KeywordRule(deep, 0),)))
    with pytest.raises(LFSpecError, match=r"^LF #1, field 'lf': must be a table, got an array nested more than 8"):
        spec_from_dict(deep, index=1)
    loop: list = []
    loop.extend([loop] * 1000)  # a list holding itself, many times: endless, and no recursion or blow-up either
    with pytest.raises(LFSpecError, match=r"LF 'p', field 'note': is nested more than 8 levels deep"):
        spec_from_dict({"name": "p", "template": "threshold", "note": loop})


def test_one_character_keyword_is_refused_naming_lf_and_keyword():
    with pytest.raises(LFSpecError) as err:
        validate_spec(KeywordLF("stars", rules=(KeywordRule(("one star",), 0), KeywordRule(("5 stars", "x"), 1))))
    assert str(err.value) == ("LF 'stars', field 'rules': rule 2, keyword 2: 'x' is too short; a keyword needs at "
                              "least 2 characters")
    assert validate_spec(KeywordLF("k", rules=(KeywordRule(("ok",), 0),))).rules[0].keywords == ("ok",)


def test_python_lf_must_load_where_the_evaluator_loads_it():
    from lfs.apply import load_python_lf

    ok = validate_spec(PythonLF("sequel", function="lfs.custom.examples:wants_the_sequel"))
    assert load_python_lf(ok.function).name == "wants_the_sequel"
    with pytest.raises(LFSpecError) as err:
        LFConfig((PythonLF("gone", function="lfs.custom.examples:gone_lf"),))
    assert str(err.value) == "LF 'gone', field 'function': module 'lfs.custom.examples' has no function 'gone_lf'"
    with pytest.raises(ValueError, match="cannot import module 'lfs.custom.missing'"):
        load_python_lf("lfs.custom.missing:f")
