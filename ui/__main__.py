"""``python -m ui [--data-dir DIR]``: the window alone (``dossier`` also runs commands)."""

import sys
import time

from ui.app import run

started = time.perf_counter()
args = sys.argv[1:]
if not args:
    sys.exit(run(None, started=started))
if len(args) == 2 and args[0] == "--data-dir":
    sys.exit(run(args[1], started=started))
if len(args) == 1 and args[0].startswith("--data-dir="):
    sys.exit(run(args[0].split("=", 1)[1], started=started))
print("usage: python -m ui [--data-dir DIR]  (commands: dossier COMMAND or python -m cli COMMAND)", file=sys.stderr)
sys.exit(2)
