"""Helpers shared by the training params dataclasses (pipeline.training: EndModelParams, HybridParams,
ContenderParams): one check of the names in an overrides dict."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

__all__ = ["check_known_fields"]


def check_known_fields(cls: type, overrides: dict[str, Any], what: str | None = None) -> None:
    """Raise a ValueError naming every key of `overrides` that is not a field of dataclass `cls`, and the known
    ones: "<what>: unknown field(s) a, b (known: ...)"; `what` defaults to the class name."""
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ValueError(f"{what or cls.__name__}: unknown field(s) {', '.join(unknown)} "
                         f"(known: {', '.join(sorted(known))})")
