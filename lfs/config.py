"""LF config files: an ordered list of LF specs in TOML, validated with one clear error per problem.

File format (``schema_version = 1``; what :func:`dumps_config` writes)::

    schema_version = 1

    [[lf]]
    name = "stars_in_review"
    template = "keyword"
    field = "review_text"
    match = "substring"
    note = "Stated stars: low phrases win over high ones, as in the seed"

    [[lf.rules]]
    label = 0
    keywords = [
        "one star",
        "1 star",
    ]

    [[lf]]
    name = "polarity_positive"
    template = "threshold"
    feature = "polarity"
    op = ">"
    value = 0.3
    label = 1

Rules may also be written inline (``rules = [{ label = 0, keywords = [...] }]``); both read the same. ``enabled =
false`` is written only when false, ``note`` only when non-empty; a python LF has ``function =
"lfs.custom.example:my_lf"`` (a module under ``lfs.``, never imported here).

Parsing normalizes: keywords are trimmed and de-duplicated case-insensitively within an LF (the first spelling is
kept; a keyword repeated in a later rule could never decide, since the first matching rule wins), integer thresholds
become floats. So ``parse_config(dumps_config(cfg)) == cfg`` for every valid config.

>>> cfg = parse_config('schema_version = 1\\n[[lf]]\\nname = "p"\\ntemplate = "threshold"\\n'
...                    'feature = "polarity"\\nop = ">"\\nvalue = 0\\nlabel = 1\\n')
>>> cfg.get("p").value
0.0
>>> parse_config(dumps_config(cfg)) == cfg
True
"""

from __future__ import annotations

import difflib
import hashlib
import math
import re
import tomllib
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path

import tomli_w

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
    _canonical,
)

SCHEMA_VERSION = 1
DEFAULT_CONFIG_PATH = Path(__file__).with_name("default.toml")

MAX_NAME_LENGTH = 64
MAX_KEYWORD_LENGTH = 200
_NAME_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]*")
_FUNCTION_RE = re.compile(r"lfs(\.[A-Za-z_][A-Za-z0-9_]*)+:[A-Za-z_][A-Za-z0-9_]*")
_COMMON_KEYS = ("name", "template", "enabled", "note")
_RULE_KEYS = ("label", "keywords")


# --------------------------------------------------------------------------------------------------------------------
# Errors


class _Invalid(Exception):
    """One problem in one field of one LF; formatted into an LFSpecError by whoever knows the file and the LF."""

    def __init__(self, field_name: str, detail: str, rule: int | None = None):
        super().__init__(detail)
        self.field_name, self.detail, self.rule = field_name, detail, rule


def _spec_error(detail: str, *, source: str = "", line: int | None = None, lf: str | None = None,
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


def _describe(value: object) -> str:
    """How a wrong value is shown in a message: its repr and its TOML-ish kind."""
    kinds = {bool: "a boolean", str: "a string", int: "an integer", float: "a float", list: "an array",
             tuple: "an array", dict: "a table"}
    kind = next((k for t, k in kinds.items() if type(value) is t), type(value).__name__)
    shown = repr(value)
    if len(shown) > 60:
        shown = shown[:57] + "..."
    return f"{shown} ({kind})"


def _unknown(what: str, value: object, known: Iterable[str]) -> str:
    known = list(known)
    hint = difflib.get_close_matches(value, known, n=1) if isinstance(value, str) else []
    did_you_mean = f" (did you mean '{hint[0]}'?)" if hint else ""
    return f"unknown {what} {value!r}{did_you_mean}; known: {', '.join(known)}"


# --------------------------------------------------------------------------------------------------------------------
# One LF: dict -> validated, normalized spec


def _require(d: Mapping, key: str):
    if key not in d:
        raise _Invalid(key, "missing")
    return d[key]


def _string(d: Mapping, key: str, default: str | None = None) -> str:
    value = d.get(key, default) if default is not None else _require(d, key)
    if not isinstance(value, str):
        raise _Invalid(key, f"must be a string, got {_describe(value)}")
    return value


def _choice(d: Mapping, key: str, known: Iterable[str], what: str, default: str | None = None) -> str:
    value = _string(d, key, default)
    if value not in known:
        raise _Invalid(key, _unknown(what, value, known))
    return value


def _label(value: object, key: str = "label", rule: int | None = None) -> int:
    if type(value) is not int or value not in LABELS:
        where = f"rule {rule}, label: " if rule is not None else ""
        raise _Invalid(key, f"{where}must be one of {', '.join(map(str, LABELS))}, got {_describe(value)}", rule)
    return value


def _name(d: Mapping) -> str:
    name = _string(d, "name")
    if not name:
        raise _Invalid("name", "must not be empty")
    if len(name) > MAX_NAME_LENGTH:
        raise _Invalid("name", f"is {len(name)} characters long; at most {MAX_NAME_LENGTH}")
    if not _NAME_RE.fullmatch(name):
        raise _Invalid("name", f"{name!r} may hold only letters, digits, '_' and '-', and must not start with '-'")
    return name


def _check_keys(d: Mapping, allowed: tuple[str, ...], field_name: str | None = None, rule: int | None = None):
    for key in d:
        if key not in allowed:
            detail = _unknown("key", key, allowed).replace("; known:", "; allowed:")
            if rule is not None:
                raise _Invalid(field_name or key, f"rule {rule}: {detail}", rule)
            raise _Invalid(key, detail)


def _keyword(value: object, rule: int, position: int) -> str:
    where = f"rule {rule}, keyword {position}"
    if not isinstance(value, str):
        raise _Invalid("rules", f"{where}: must be a string, got {_describe(value)}", rule)
    keyword = value.strip()
    if not keyword:
        raise _Invalid("rules", f"{where}: must not be empty or whitespace-only", rule)
    if len(keyword) > MAX_KEYWORD_LENGTH:
        raise _Invalid("rules", f"{where}: is {len(keyword)} characters long; at most {MAX_KEYWORD_LENGTH}", rule)
    bad = [c for c in keyword if unicodedata.category(c) == "Cc"]
    if bad:
        raise _Invalid("rules", f"{where}: contains the control character {bad[0]!r}", rule)
    return keyword


def _rules(d: Mapping) -> tuple[KeywordRule, ...]:
    raw = _require(d, "rules")
    if not isinstance(raw, list | tuple):
        raise _Invalid("rules", f"must be an array of {{ label, keywords }} tables, got {_describe(raw)}")
    if not raw:
        raise _Invalid("rules", "must have at least one rule")
    seen: set[str] = set()
    rules = []
    for i, rule in enumerate(raw, start=1):
        if isinstance(rule, KeywordRule):
            rule = {"label": rule.label, "keywords": rule.keywords}
        if not isinstance(rule, Mapping):
            raise _Invalid("rules", f"rule {i}: must be a table {{ label, keywords }}, got {_describe(rule)}", i)
        _check_keys(rule, _RULE_KEYS, "rules", i)
        if "label" not in rule:
            raise _Invalid("rules", f"rule {i}: missing 'label'", i)
        label = _label(rule["label"], "rules", i)
        words = rule.get("keywords")
        if not isinstance(words, list | tuple):
            got = "nothing" if words is None else _describe(words)
            raise _Invalid("rules", f"rule {i}, keywords: must be an array of strings, got {got}", i)
        if not words:
            raise _Invalid("rules", f"rule {i}, keywords: must list at least one keyword", i)
        kept = []
        for j, word in enumerate(words, start=1):
            keyword = _keyword(word, i, j)
            if keyword.lower() not in seen:
                seen.add(keyword.lower())
                kept.append(keyword)
        if not kept:
            raise _Invalid("rules", f"rule {i}, keywords: every keyword already appears in an earlier rule", i)
        rules.append(KeywordRule(keywords=tuple(kept), label=label))
    return tuple(rules)


def _number(d: Mapping, key: str) -> float:
    value = _require(d, key)
    if type(value) not in (int, float):
        raise _Invalid(key, f"must be a number, got {_describe(value)}")
    if not math.isfinite(value):
        raise _Invalid(key, f"must be a finite number, got {value}")
    return float(value)


def _function(d: Mapping) -> str:
    function = _string(d, "function")
    if not _FUNCTION_RE.fullmatch(function):
        raise _Invalid("function", f"{function!r} must be 'module:attribute' with the module under 'lfs.' "
                                   "(e.g. 'lfs.custom.example:my_lf')")
    return function


def _common(d: Mapping) -> dict:
    enabled = d.get("enabled", True)
    if type(enabled) is not bool:
        raise _Invalid("enabled", f"must be true or false, got {_describe(enabled)}")
    note = _string(d, "note", "")
    return {"name": _name(d), "enabled": enabled, "note": note.strip()}


def _build(d: Mapping) -> LFSpec:
    """Validate and normalize one LF table (raises _Invalid)."""
    if not isinstance(d, Mapping):
        raise _Invalid("lf", f"must be a table, got {_describe(d)}")
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


def _lf_ref(d: object, index: int | None) -> str:
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
        return _build(d)
    except _Invalid as problem:
        raise _spec_error(problem.detail, source=where, lf=_lf_ref(d, index), field_name=problem.field_name) from None


def validate_spec(spec: LFSpec) -> LFSpec:
    """Check one (edited) spec; return it normalized (trimmed, de-duplicated keywords; float threshold).

    >>> validate_spec(ThresholdLF("p", feature="polarity", op=">", value=1, label=1)).value
    1.0
    """
    if not isinstance(spec, KeywordLF | ThresholdLF | PythonLF):
        raise _spec_error(f"must be a KeywordLF, ThresholdLF or PythonLF, got {type(spec).__name__}")
    return spec_from_dict(spec.to_dict())


# --------------------------------------------------------------------------------------------------------------------
# The config: an ordered tuple of specs


def _check_unique(specs: Iterable[LFSpec], source: str = "", lines: list[int | None] | None = None):
    first: dict[str, int] = {}
    for i, spec in enumerate(specs, start=1):
        if spec.name in first:
            line = lines[i - 1] if lines else None
            raise _spec_error(f"duplicate name (also LF #{first[spec.name]})", source=source, line=line,
                              lf=f"LF {spec.name!r}", field_name="name")
        first[spec.name] = i


@dataclass(frozen=True)
class LFConfig:
    """An ordered, validated set of LF specs. Immutable: the editing helpers return new configs.

    ``key`` hashes the whole content (names, notes and switches included), so it changes with any edit and not with
    the file's formatting or comments.
    """

    lfs: tuple[LFSpec, ...] = ()
    schema_version: int = field(default=SCHEMA_VERSION, kw_only=True)

    def __post_init__(self):
        if type(self.schema_version) is not int or self.schema_version != SCHEMA_VERSION:
            raise _spec_error(f"unsupported schema_version {self.schema_version!r}; this version reads "
                              f"{SCHEMA_VERSION}", field_name="schema_version")
        specs = tuple(validate_spec(s) for s in self.lfs)
        _check_unique(specs)
        object.__setattr__(self, "lfs", specs)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.lfs)

    def __len__(self) -> int:
        return len(self.lfs)

    def __iter__(self):
        return iter(self.lfs)

    def get(self, name: str) -> LFSpec:
        for spec in self.lfs:
            if spec.name == name:
                return spec
        raise KeyError(f"no LF named {name!r}; the config has: {', '.join(self.names) or 'none'}")

    def enabled(self) -> tuple[LFSpec, ...]:
        return tuple(s for s in self.lfs if s.enabled)

    def replace(self, name: str, new_spec: LFSpec) -> LFConfig:
        """The config with LF ``name`` replaced (in place in the order; ``new_spec`` may carry a new name)."""
        self.get(name)
        return LFConfig(tuple(new_spec if s.name == name else s for s in self.lfs), schema_version=self.schema_version)

    def add(self, spec: LFSpec) -> LFConfig:
        return LFConfig((*self.lfs, spec), schema_version=self.schema_version)

    def remove(self, name: str) -> LFConfig:
        self.get(name)
        return LFConfig(tuple(s for s in self.lfs if s.name != name), schema_version=self.schema_version)

    def to_dict(self) -> dict:
        return {"schema_version": self.schema_version, "lf": [s.to_dict() for s in self.lfs]}

    @property
    def key(self) -> str:
        return hashlib.sha256(_canonical(self.to_dict()).encode()).hexdigest()


# --------------------------------------------------------------------------------------------------------------------
# TOML text <-> LFConfig

_LF_HEADER = re.compile(r"^\s*\[\[\s*lf\s*\]\]")
_RULE_HEADER = re.compile(r"^\s*\[\[\s*lf\s*\.\s*rules\s*\]\]")


def _lf_lines(text: str) -> list[tuple[int, int]]:
    """(first, last) 1-based line numbers of each ``[[lf]]`` table, in order (best effort: for messages only)."""
    lines = text.splitlines()
    starts = [i + 1 for i, line in enumerate(lines) if _LF_HEADER.match(line)]
    return [(s, (starts[k + 1] - 1) if k + 1 < len(starts) else len(lines)) for k, s in enumerate(starts)]


def _line_of(text: str, spans: list[tuple[int, int]], index: int, problem: _Invalid | None) -> int | None:
    """The line of the field at fault inside LF #index, else of its ``[[lf]]`` header, else None."""
    if index > len(spans):
        return None
    first, last = spans[index - 1]
    if problem is None:
        return first
    lines = text.splitlines()[first - 1:last]
    if problem.field_name == "rules" and problem.rule is not None:
        headers = [first + i for i, line in enumerate(lines) if _RULE_HEADER.match(line)]
        if len(headers) >= problem.rule:
            return headers[problem.rule - 1]
    key = re.compile(rf"""^\s*["']?{re.escape(problem.field_name)}["']?\s*=""")
    return next((first + i for i, line in enumerate(lines) if key.match(line)), first)


def parse_config(text: str, source: str = "<config>") -> LFConfig:
    """Read a config from TOML text; ``source`` (a file name) is named in every error."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise _spec_error(f"not valid TOML: {exc}", source=source) from None
    if "schema_version" not in data:
        raise _spec_error(f"missing 'schema_version' (this version reads schema_version = {SCHEMA_VERSION})",
                          source=source, field_name="schema_version")
    version = data["schema_version"]
    if type(version) is not int or version != SCHEMA_VERSION:
        raise _spec_error(f"unsupported schema_version {version!r}; this version reads {SCHEMA_VERSION}",
                          source=source, field_name="schema_version")
    unknown = [k for k in data if k not in ("schema_version", "lf")]
    if unknown:
        raise _spec_error(_unknown("top-level key", unknown[0], ("schema_version", "lf")).replace("known:", "allowed:")
                          + " (each LF is a [[lf]] table)", source=source, field_name=unknown[0])
    tables = data.get("lf", [])
    if not isinstance(tables, list):
        raise _spec_error(f"must be an array of [[lf]] tables, got {_describe(tables)}", source=source,
                          field_name="lf")
    spans = _lf_lines(text)
    specs = []
    for index, table in enumerate(tables, start=1):
        try:
            specs.append(_build(table))
        except _Invalid as problem:
            raise _spec_error(problem.detail, source=source, line=_line_of(text, spans, index, problem),
                              lf=_lf_ref(table, index), field_name=problem.field_name) from None
    _check_unique(specs, source, [_line_of(text, spans, i, None) for i in range(1, len(specs) + 1)])
    return LFConfig(tuple(specs), schema_version=version)


def load_config(path: str | Path) -> LFConfig:
    """Read and validate a config file; errors name the file (and line where it can be found)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise _spec_error(f"not UTF-8 text: {exc}", source=str(path)) from None
    except OSError as exc:
        raise _spec_error(f"cannot read: {exc.strerror or exc}", source=str(path)) from None
    return parse_config(text, source=str(path))


def _spec_table(spec: LFSpec) -> dict:
    """One [[lf]] table in reading order: name, template, parameters, then enabled/note when not default."""
    d = spec.to_dict()
    table = {"name": d.pop("name"), "template": d.pop("template")}
    enabled, note = d.pop("enabled"), d.pop("note")
    rules = d.pop("rules", None)
    table.update(d)
    if not enabled:
        table["enabled"] = False
    if note:
        table["note"] = note
    if rules is not None:
        table["rules"] = [{"label": r["label"], "keywords": list(r["keywords"])} for r in rules]
    return table


def dumps_config(cfg: LFConfig) -> str:
    """The config as TOML text (one ``[[lf]]`` table per LF, one keyword per line)."""
    return tomli_w.dumps({"schema_version": cfg.schema_version, "lf": [_spec_table(s) for s in cfg.lfs]})


def load_default() -> LFConfig:
    """The seed tutorial's five LFs (lfs/default.toml)."""
    return load_config(DEFAULT_CONFIG_PATH)
