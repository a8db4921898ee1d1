"""``python -m ui``: the window alone (``dossier`` chooses between it and the command line)."""

import sys

from ui.app import run

sys.exit(run(None))
