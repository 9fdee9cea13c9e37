"""`python -m pipeline <command>`: see pipeline.cli."""

import sys

from pipeline.cli import main

if __name__ == "__main__":  # worker processes started by "spawn" import this module again: they must not run it
    sys.exit(main())
