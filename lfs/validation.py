"""One LF spec from a dict (a TOML table, a form), validated and normalized, with one clear error naming the
source, line, LF and field of the first problem. `lfs.config` builds whole configs on it."""

from __future__ import annotations

import difflib
import math
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import fields, is_dataclass
from pathlib import Path

from lfs.spec import (
    FEATURES,
    LABELS,
    MATCH_MODES,
    OPERATORS,
    TEMPLATES,
    TEXT_FIELDS,
    KeywordLF,
    KeywordRule,
    LFSpec,
    LFSpecError,
    PythonLF,
    ThresholdLF,
)

SCHEMA_VERSION = 1
DEFAULT_CONFIG_PATH = Path(__file__).with_name("default.toml")

MAX_NAME_LENGTH = 64
MIN_KEYWORD_LENGTH = 2  # one character is in nearly every text: a useless LF whose search costs the most
MAX_KEYWORD_LENGTH = 200
MAX_NESTING = 8  # an LF table nests 3 deep (rules -> rule -> keywords); deeper is a mistake, and recursion fails
_NAME_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]*")
_FUNCTION_RE = re.compile(r"lfs(\.[A-Za-z_][A-Za-z0-9_]*)+:[A-Za-z_][A-Za-z0-9_]*")
_COMMON_KEYS = ("name", "template", "enabled", "note")
_RULE_KEYS = ("label", "keywords")


# --------------------------------------------------------------------------------------------------------------------
# Errors


class Invalid(Exception):
    """One problem in one field of one LF; formatted into an LFSpecError by whoever knows the file and the LF."""

    def __init__(self, field_name: str, detail: str, rule: int | None = None):
        super().__init__(detail)
        self.field_name, self.detail, self.rule = field_name, detail, rule


def spec_error(detail: str, *, source: str = "", line: int | None = None, lf: str | None = None,
               field_name: str | None = None) -> LFSpecError:
    """An LFSpecError reading ``source:line: LF 'name', field 'f': detail``; the parts are kept as attributes
    (``source``, ``line``, ``lf``, ``field``, ``detail``) so a UI can point at the widget at fault."""
    where = f"{source}:{line}" if source and line else source
    parts = [p for p in (lf, f"field '{field_name}'" if field_name else None) if p]
    head = ", ".join(parts)
    message = ": ".join(p for p in (where, head, detail) if p)
    err = LFSpecError(message)
    err.source, err.line, err.lf, err.field, err.detail = source or None, line, lf, field_name, detail
    return err


def describe(value: object) -> str:
    """How a wrong value is shown in a message: its repr and its TOML-ish kind."""
    kinds = {bool: "a boolean", str: "a string", int: "an integer", float: "a float", list: "an array",
             tuple: "an array", dict: "a table"}
    kind = next((k for t, k in kinds.items() if type(value) is t), type(value).__name__)
    if too_deep(value):
        return f"{kind} nested more than {MAX_NESTING} levels deep"
    shown = repr(value)
    if len(shown) > 60:
        shown = shown[:57] + "..."
    return f"{shown} ({kind})"


def too_deep(value: object, limit: int = MAX_NESTING) -> bool:
    """True when arrays or tables nest more than `limit` levels in `value` (itself counted). Walked level by level
    without recursion, each distinct container once per level: any depth is answered, and a value that holds itself
    is too deep rather than endless."""
    level = [value] if _children(value) is not None else []
    for _ in range(limit):
        inner = {id(c): c for v in level for c in _children(v) if _children(c) is not None}
        if not inner:
            return False
        level = list(inner.values())
    return bool(level)


def _children(value: object) -> list | None:
    """What a container holds (None for a scalar); a spec's rules are dataclasses."""
    if isinstance(value, Mapping):
        return list(value.values())
    if isinstance(value, list | tuple):
        return list(value)
    if is_dataclass(value) and not isinstance(value, type):
        return [getattr(value, f.name) for f in fields(value)]
    return None


def unknown_value(what: str, value: object, known: Iterable[str]) -> str:
    known = list(known)
    hint = difflib.get_close_matches(value, known, n=1) if isinstance(value, str) else []
    did_you_mean = f" (did you mean '{hint[0]}'?)" if hint else ""
    return f"unknown {what} {value!r}{did_you_mean}; known: {', '.join(known)}"


# --------------------------------------------------------------------------------------------------------------------
# One LF: dict -> validated, normalized spec


def _require(d: Mapping, key: str):
    if key not in d:
        raise Invalid(key, "missing")
    return d[key]


def _string(d: Mapping, key: str, default: str | None = None) -> str:
    value = d.get(key, default) if default is not None else _require(d, key)
    if not isinstance(value, str):
        raise Invalid(key, f"must be a string, got {describe(value)}")
    return value


def _choice(d: Mapping, key: str, known: Iterable[str], what: str, default: str | None = None) -> str:
    value = _string(d, key, default)
    if value not in known:
        raise Invalid(key, unknown_value(what, value, known))
    return value


def _label(value: object, key: str = "label", rule: int | None = None) -> int:
    if type(value) is not int or value not in LABELS:
        where = f"rule {rule}, label: " if rule is not None else ""
        raise Invalid(key, f"{where}must be one of {', '.join(map(str, LABELS))}, got {describe(value)}", rule)
    return value


def _name(d: Mapping) -> str:
    name = _string(d, "name")
    if not name:
        raise Invalid("name", "must not be empty")
    if len(name) > MAX_NAME_LENGTH:
        raise Invalid("name", f"is {len(name)} characters long; at most {MAX_NAME_LENGTH}")
    if not _NAME_RE.fullmatch(name):
        raise Invalid("name", f"{name!r} may hold only letters, digits, '_' and '-', and must not start with '-'")
    return name


def _check_keys(d: Mapping, allowed: tuple[str, ...], field_name: str | None = None, rule: int | None = None):
    for key in d:
        if key not in allowed:
            detail = unknown_value("key", key, allowed).replace("; known:", "; allowed:")
            if rule is not None:
                raise Invalid(field_name or key, f"rule {rule}: {detail}", rule)
            raise Invalid(key, detail)


def _keyword(value: object, rule: int, position: int) -> str:
    where = f"rule {rule}, keyword {position}"
    if not isinstance(value, str):
        raise Invalid("rules", f"{where}: must be a string, got {describe(value)}", rule)
    keyword = value.strip()
    if not keyword:
        raise Invalid("rules", f"{where}: must not be empty or whitespace-only", rule)
    if len(keyword) < MIN_KEYWORD_LENGTH:
        raise Invalid("rules", f"{where}: {keyword!r} is too short; a keyword needs at least {MIN_KEYWORD_LENGTH} "
                               "characters", rule)
    if len(keyword) > MAX_KEYWORD_LENGTH:
        raise Invalid("rules", f"{where}: is {len(keyword)} characters long; at most {MAX_KEYWORD_LENGTH}", rule)
    bad = [c for c in keyword if unicodedata.category(c) == "Cc"]
    if bad:
        raise Invalid("rules", f"{where}: contains the control character {bad[0]!r}", rule)
    return keyword


def _rules(d: Mapping) -> tuple[KeywordRule, ...]:
    raw = _require(d, "rules")
    if not isinstance(raw, list | tuple):
        raise Invalid("rules", f"must be an array of {{ label, keywords }} tables, got {describe(raw)}")
    if not raw:
        raise Invalid("rules", "must have at least one rule")
    seen: set[str] = set()
    rules = []
    for i, rule in enumerate(raw, start=1):
        if isinstance(rule, KeywordRule):
            rule = {"label": rule.label, "keywords": rule.keywords}
        if not isinstance(rule, Mapping):
            raise Invalid("rules", f"rule {i}: must be a table {{ label, keywords }}, got {describe(rule)}", i)
        _check_keys(rule, _RULE_KEYS, "rules", i)
        if "label" not in rule:
            raise Invalid("rules", f"rule {i}: missing 'label'", i)
        label = _label(rule["label"], "rules", i)
        words = rule.get("keywords")
        if not isinstance(words, list | tuple):
            got = "nothing" if words is None else describe(words)
            raise Invalid("rules", f"rule {i}, keywords: must be an array of strings, got {got}", i)
        if not words:
            raise Invalid("rules", f"rule {i}, keywords: must list at least one keyword", i)
        kept = []
        for j, word in enumerate(words, start=1):
            keyword = _keyword(word, i, j)
            if keyword.lower() not in seen:
                seen.add(keyword.lower())
                kept.append(keyword)
        if not kept:
            raise Invalid("rules", f"rule {i}, keywords: every keyword already appears in an earlier rule", i)
        rules.append(KeywordRule(keywords=tuple(kept), label=label))
    return tuple(rules)


def _number(d: Mapping, key: str) -> float:
    value = _require(d, key)
    if type(value) not in (int, float):
        raise Invalid(key, f"must be a number, got {describe(value)}")
    if not math.isfinite(value):
        raise Invalid(key, f"must be a finite number, got {value}")
    return float(value)


def _function(d: Mapping) -> str:
    function = _string(d, "function")
    if not _FUNCTION_RE.fullmatch(function):
        raise Invalid("function", f"{function!r} must be 'module:attribute' with the module under 'lfs.' "
                                   "(e.g. 'lfs.custom.examples:did_not_finish')")
    from lfs.apply import load_python_lf  # here: only python LFs need the engine and snorkel

    try:  # imported now, as the evaluator will: a missing module or function fails here, not on every page
        load_python_lf(function)
    except ValueError as exc:
        raise Invalid("function", str(exc)) from None
    return function


def _common(d: Mapping) -> dict:
    enabled = d.get("enabled", True)
    if type(enabled) is not bool:
        raise Invalid("enabled", f"must be true or false, got {describe(enabled)}")
    note = _string(d, "note", "")
    return {"name": _name(d), "enabled": enabled, "note": note.strip()}


def build_spec(d: Mapping) -> LFSpec:
    """Validate and normalize one LF table (raises Invalid)."""
    if not isinstance(d, Mapping):
        raise Invalid("lf", f"must be a table, got {describe(d)}")
    for key, value in d.items():
        if too_deep(value, MAX_NESTING - 1):
            raise Invalid(str(key), f"is nested more than {MAX_NESTING} levels deep")
    common = _common(d)
    template = _choice(d, "template", TEMPLATES, "template")
    cls = TEMPLATES[template]
    allowed = _COMMON_KEYS + tuple(f.name for f in fields(cls) if f.name not in _COMMON_KEYS)
    _check_keys(d, allowed)
    if cls is KeywordLF:
        return KeywordLF(**common, rules=_rules(d), field=_choice(d, "field", TEXT_FIELDS, "field", "review_text"),
                         match=_choice(d, "match", MATCH_MODES, "match mode", "substring"))
    if cls is ThresholdLF:
        return ThresholdLF(**common, feature=_choice(d, "feature", FEATURES, "feature"),
                           op=_choice(d, "op", OPERATORS, "operator"), value=_number(d, "value"),
                           label=_label(_require(d, "label")))
    return PythonLF(**common, function=_function(d))


def lf_ref(d: object, index: int | None) -> str:
    """How an LF is named in a message: by its name when it has a usable one, else by its position."""
    name = d.get("name") if isinstance(d, Mapping) else None
    if isinstance(name, str) and name and len(name) <= MAX_NAME_LENGTH and _NAME_RE.fullmatch(name):
        return f"LF {name!r}"
    return f"LF #{index}" if index is not None else "LF"


def spec_from_dict(d: Mapping, where: str = "", *, index: int | None = None) -> LFSpec:
    """Validate and normalize one LF given as a dict (a TOML ``[[lf]]`` table or ``spec.to_dict()``).

    ``where`` prefixes the message (a file name); ``index`` (1-based) names an LF whose name is unusable.
    Raises LFSpecError: ``where: LF 'name', field 'f': what is wrong``.
    """
    try:
        return build_spec(d)
    except Invalid as problem:
        raise spec_error(problem.detail, source=where, lf=lf_ref(d, index), field_name=problem.field_name) from None


def validate_spec(spec: LFSpec) -> LFSpec:
    """Check one (edited) spec; return it normalized (trimmed, de-duplicated keywords; float threshold).

    >>> validate_spec(ThresholdLF("p", feature="polarity", op=">", value=1, label=1)).value
    1.0
    """
    if not isinstance(spec, KeywordLF | ThresholdLF | PythonLF):
        raise spec_error(f"must be a KeywordLF, ThresholdLF or PythonLF, got {type(spec).__name__}")
    for f in fields(spec):  # before to_dict, which recurses
        if too_deep(getattr(spec, f.name), MAX_NESTING - 1):
            raise spec_error(f"is nested more than {MAX_NESTING} levels deep", lf=lf_ref({"name": spec.name}, None),
                             field_name=f.name)
    return spec_from_dict(spec.to_dict())
