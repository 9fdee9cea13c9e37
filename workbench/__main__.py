"""`python -m workbench [--port N] [--address A] [-- APP ARGS]`: serve the workbench, from any folder.

Streamlit reads .streamlit/config.toml from the folder it starts in, so `streamlit run` started elsewhere would
miss the project's settings (and listen on all interfaces). This launcher reads the project's config file (found
beside this package, so it stays the one source) and passes every option in it to `streamlit run` as a flag: flags
win over any config file or $STREAMLIT_* variable. APP ARGS go to the app: `--data DIR`, `--allowed-hosts NAMES`.
"""

from __future__ import annotations

import argparse
import sys
import tomllib
from collections.abc import Sequence
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
ENTRY = PACKAGE / "entry" / "app.py"
CONFIG = PACKAGE.parent / ".streamlit" / "config.toml"


def config_options(path: Path = CONFIG) -> dict[str, object]:
    """{"section.option": value} of the project's config file."""
    try:
        with open(path, "rb") as f:
            config = tomllib.load(f)
    except FileNotFoundError:
        # Without it the server's safe settings (the 127.0.0.1 binding) would silently be Streamlit's defaults.
        raise SystemExit(f"no {path}: run the workbench from a checkout of the project (see README.md)") from None
    return {f"{section}.{name}": value for section, options in config.items() for name, value in options.items()}


def _flag_value(value: object) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def streamlit_args(argv: Sequence[str], config: Path = CONFIG) -> list[str]:
    """The arguments of `streamlit` (after the program name) that serve the workbench as `argv` asks."""
    argv = list(argv)
    own, app = (argv[:argv.index("--")], argv[argv.index("--") + 1:]) if "--" in argv else (argv, [])
    parser = argparse.ArgumentParser(prog="python -m workbench", description=__doc__.splitlines()[0],
                                     epilog="Arguments after -- go to the app: --data DIR, --allowed-hosts NAMES.")
    parser.add_argument("--port", type=int, help="the port to serve on (default: the config file's)")
    parser.add_argument("--address", help="the address to bind (default: the config file's, 127.0.0.1); another "
                        "one needs --allowed-hosts too, see README.md")
    args = parser.parse_args(own)
    options = config_options(config)
    if args.port is not None:
        options["server.port"] = args.port
    if args.address is not None:
        options["server.address"] = args.address
    flags = [part for name, value in options.items() for part in (f"--{name}", _flag_value(value))]
    return ["run", str(ENTRY), *flags, "--", *app]


def main(argv: Sequence[str] | None = None) -> None:
    from streamlit.web import cli

    from workbench import warmup
    from workbench.app_args import app_args

    args = streamlit_args(sys.argv[1:] if argv is None else argv)
    warmup.start(app_args(args[args.index("--") + 1:]).data)  # the first page then finds the data loaded
    cli.main(args=args, prog_name="streamlit")


if __name__ == "__main__":
    main()
