"""The app's own arguments, after `--` on the command line (`python -m workbench -- --data DIR --allowed-hosts
NAME`): one parser, run once per command line, since every page run asks for them."""

from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import Sequence


@functools.cache
def _parse(argv: tuple[str, ...]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--data", default=None)
    parser.add_argument("--allowed-hosts", action="append", default=[])
    args, _ = parser.parse_known_args(list(argv))
    return args


def app_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """`data` (None when not given) and `allowed_hosts` (a list, one entry per flag) of `argv` (default: this
    process's arguments). Shared: read it, do not change it."""
    return _parse(tuple(sys.argv[1:] if argv is None else argv))
