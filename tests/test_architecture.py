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
    assert "Contracts: 5 kept, 0 broken." in result.stdout


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


def test_every_error_written_for_the_user_has_one_root() -> None:
    """The CLI and the window catch USER_ERRORS; an app error outside it would surface as a bug."""
    from app.config.files import WriteFailed
    from app.config.keychain import KeychainError
    from app.errors import USER_ERRORS, InputRefused, UserError
    from app.llm.engine import EngineError, ModelUnavailableError
    from app.llm.gguf import GGUFError
    from app.llm.models import DownloadCancelled, ModelStoreError
    from app.llm.remote import RemoteError
    from app.portability.backup import BackupError
    from cli.main import UsageError
    from memory import InvalidInputError, MemoryServiceError
    from ui.tasks import EXPECTED_ERRORS

    errors = [BackupError, UsageError, EngineError, ModelUnavailableError, InputRefused, WriteFailed, GGUFError]
    errors += [KeychainError, ModelStoreError, DownloadCancelled, RemoteError]
    assert all(issubclass(error, UserError) for error in errors)
    assert set(USER_ERRORS) == {UserError, MemoryServiceError} and set(USER_ERRORS) <= set(EXPECTED_ERRORS)
    import app.assistant.conversation

    assert not hasattr(app.assistant.conversation, "InvalidInputError") and issubclass(
        InvalidInputError, MemoryServiceError
    )
