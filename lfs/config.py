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
"lfs.custom.examples:did_not_finish"`` (a module under ``lfs.``, imported when validated, so a config naming a
module or function that does not load is refused). Keywords have at least ``MIN_KEYWORD_LENGTH`` (2) characters.

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

import hashlib
import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import tomli_w

from lfs.spec import LFSpec, _canonical
from lfs.validation import (
    DEFAULT_CONFIG_PATH,
    MAX_NESTING,
    SCHEMA_VERSION,
    Invalid,
    build_spec,
    describe,
    lf_ref,
    spec_error,
    spec_from_dict,
    unknown_value,
    validate_spec,
)

__all__ = ["DEFAULT_CONFIG_PATH", "SCHEMA_VERSION", "LFConfig", "dumps_config", "load_config", "load_default",
           "parse_config", "spec_from_dict", "validate_spec"]

# --------------------------------------------------------------------------------------------------------------------
# The config: an ordered tuple of specs


def _check_unique(specs: Iterable[LFSpec], source: str = "", lines: list[int | None] | None = None):
    first: dict[str, int] = {}
    for i, spec in enumerate(specs, start=1):
        if spec.name in first:
            line = lines[i - 1] if lines else None
            raise spec_error(f"duplicate name (also LF #{first[spec.name]})", source=source, line=line,
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
            raise spec_error(f"unsupported schema_version {self.schema_version!r}; this version reads "
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


def _line_of(text: str, spans: list[tuple[int, int]], index: int, problem: Invalid | None) -> int | None:
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
        raise spec_error(f"not valid TOML: {exc}", source=source) from None
    except RecursionError:  # tomllib recurses once per level of arrays or inline tables inside each other
        raise spec_error(f"not a valid LF config: arrays or inline tables nested too deeply to read (an LF "
                         f"config nests at most {MAX_NESTING} levels)", source=source) from None
    if "schema_version" not in data:
        raise spec_error(f"missing 'schema_version' (this version reads schema_version = {SCHEMA_VERSION})",
                         source=source, field_name="schema_version")
    version = data["schema_version"]
    if type(version) is not int or version != SCHEMA_VERSION:
        raise spec_error(f"unsupported schema_version {version!r}; this version reads {SCHEMA_VERSION}",
                         source=source, field_name="schema_version")
    unknown = [k for k in data if k not in ("schema_version", "lf")]
    if unknown:
        message = unknown_value("top-level key", unknown[0], ("schema_version", "lf"))
        raise spec_error(message.replace("known:", "allowed:")
                         + " (each LF is a [[lf]] table)", source=source, field_name=unknown[0])
    tables = data.get("lf", [])
    if not isinstance(tables, list):
        raise spec_error(f"must be an array of [[lf]] tables, got {describe(tables)}", source=source,
                         field_name="lf")
    spans = _lf_lines(text)
    specs = []
    for index, table in enumerate(tables, start=1):
        try:
            specs.append(build_spec(table))
        except Invalid as problem:
            raise spec_error(problem.detail, source=source, line=_line_of(text, spans, index, problem),
                             lf=lf_ref(table, index), field_name=problem.field_name) from None
    _check_unique(specs, source, [_line_of(text, spans, i, None) for i in range(1, len(specs) + 1)])
    return LFConfig(tuple(specs), schema_version=version)


def load_config(path: str | Path) -> LFConfig:
    """Read and validate a config file; errors name the file (and line where it can be found)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise spec_error(f"not UTF-8 text: {exc}", source=str(path)) from None
    except OSError as exc:
        raise spec_error(f"cannot read: {exc.strerror or exc}", source=str(path)) from None
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
