"""``python -m aecm``: the command line."""

import sys

from aecm.cli import main

sys.exit(main())
