"""The ``dossier`` command: no command opens the window, any command runs the CLI."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence

from app import cli


def main(argv: Sequence[str] | None = None) -> int:
    started = time.perf_counter()

    def open_window(args: argparse.Namespace) -> int:
        from ui.app import run  # Qt is imported only when a window is wanted

        return run(args.data_dir, started=started)

    return cli.main(argv, no_command=open_window)


if __name__ == "__main__":
    sys.exit(main())
