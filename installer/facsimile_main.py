"""Entry point of the frozen desktop bundle: the `facsimile` command line (and `facsimile studio`)."""

import multiprocessing
import os
import sys

if __name__ == "__main__":
    multiprocessing.freeze_support()  # worker processes re-enter the frozen executable
    from core.paths import cache_dir

    # PyInstaller's matplotlib hook points MPLCONFIGDIR at a fresh temp folder on every start,
    # so MediaPipe's matplotlib import rebuilt the font cache each run: keep it in our cache.
    os.environ["MPLCONFIGDIR"] = str(cache_dir() / "matplotlib")
    from core.cli import main

    sys.exit(main())
