"""`python -m core` runs the facsimile command line."""

import sys

from core.cli import main

sys.exit(main())
