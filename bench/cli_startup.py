"""How fast the CLI hands back control: each command as a new process, next to ``python -c pass``.

Run: ``.venv/bin/python bench/cli_startup.py [--runs 7]`` (under a minute).

Every command runs as its own process on a data folder prepared once (a
project with 200 facts and a session), the way a user or a script calls it;
the figure is the median wall time over ``--runs`` runs, printed next to the
floor measured in the same run (the same interpreter starting and doing
nothing) and as a ratio to it. ``search`` loads the vector index and the
embedding model, so it is the slowest by design; listing commands should not
pay for them.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _wall(argv: list[str], env: dict[str, str], runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args(argv)
    from memory import MemoryService

    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        with MemoryService.open(data) as service:
            project = service.create_project("Acme")
            for n in range(200):
                service.add_fact(project.id, f"Acme fact number {n}: the warehouse in Ghent ships pallet {n}")
            session = service.start_session(project.id, "Kick-off")
            service.add_message(session.id, "user", "The launch is on 3 March.")
        env = {**os.environ, "DOSSIER_HOME": str(data), "DOSSIER_MODELS_DIR": str(Path(tmp) / "models")}
        dossier = [sys.executable, "-m", "cli"]
        floor = _wall([sys.executable, "-c", "pass"], env, args.runs)
        print(f"floor, python -c pass: {floor * 1000:.0f} ms (median of {args.runs})")
        print()
        print("| command | median | × floor |")
        print("| --- | --- | --- |")
        for label, command in [
            ("dossier --help", ["--help"]),
            ("dossier project list", ["project", "list"]),
            ("dossier fact list --project Acme", ["fact", "list", "--project", "Acme"]),
            ("dossier inbox --project Acme", ["inbox", "--project", "Acme"]),
            ("dossier search --project Acme ghent (vectors + model)", ["search", "--project", "Acme", "ghent"]),
        ]:
            seconds = _wall([*dossier, *command], env, args.runs)
            print(f"| {label} | {seconds * 1000:.0f} ms | {seconds / floor:.1f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
