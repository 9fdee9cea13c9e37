"""`python -m pipeline <command>`: see pipeline.cli."""

import sys

from pipeline.cli import main

sys.exit(main())
