"""``python -m ui [--data-dir DIR]``: the window alone (``dossier`` also runs commands)."""

import sys
import time

started = time.perf_counter()  # before Qt is imported, as the dossier launcher times it

from ui.app import run  # noqa: E402
from ui.arguments import window_arguments  # noqa: E402

window, data_dir = window_arguments(sys.argv[1:])
if not window:
    print("usage: python -m ui [--data-dir DIR]  (commands: dossier COMMAND or python -m cli COMMAND)", file=sys.stderr)
    sys.exit(2)
sys.exit(run(data_dir, started=started))
