"""Layer rules (ui -> app -> memory) are import-linter contracts in pyproject.toml."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_import_contracts_hold() -> None:
    lint_imports = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert lint_imports, "import-linter is a test dependency"
    result = subprocess.run([lint_imports], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 3 kept, 0 broken." in result.stdout


def test_no_orm_row_leaves_memory() -> None:
    """The facade's public signatures mention no ORM class."""
    import inspect

    import memory
    from memory import orm

    row_names = {name for name, obj in vars(orm).items() if inspect.isclass(obj) and name.endswith("Row")}
    for name, method in inspect.getmembers(memory.MemoryService, inspect.isfunction):
        if name.startswith("_"):
            continue
        annotations = str(inspect.signature(method))
        assert not any(row in annotations for row in row_names), (name, annotations)
