"""Where Dossier keeps things, decided once at start-up.

Order of precedence for the data dir: ``--data-dir``, then ``DOSSIER_HOME``,
then the platform's user data dir. Models live apart from any one data dir
(``DOSSIER_MODELS_DIR`` overrides), so several data dirs share one copy.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import platformdirs

APP_NAME = "Dossier"
ENV_HOME = "DOSSIER_HOME"
ENV_MODELS = "DOSSIER_MODELS_DIR"
WINDOW_LOCK = "window.lock"
#: Where the window listens for a second start, when the user has no private runtime folder.
WINDOW_SOCKET = "window.socket"


def ensure_private_dir(path: Path) -> Path:
    """Creates ``path`` (and parents) readable by its owner only.

    A folder that exists already is narrowed to 0700 only when it is ours and
    wider than that; a folder the user made read-only, or one owned by someone
    else, is left as it is (reading still works there).
    """
    if not path.exists():
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(path, 0o700)  # mkdir's mode is filtered by the umask
        return path
    info = path.stat()
    if info.st_uid == os.getuid() and info.st_mode & 0o077:
        try:
            os.chmod(path, 0o700)
        except OSError:
            pass  # a file system that does not keep modes; nothing more we can do
    return path


@dataclass(frozen=True)
class AppPaths:
    data_dir: Path
    models_dir: Path

    @property
    def settings_file(self) -> Path:
        return self.data_dir / "settings.json"

    @property
    def backups_dir(self) -> Path:
        return self.data_dir / "backups"

    @property
    def logs_dir(self) -> Path:
        return self.data_dir / "logs"

    @property
    def window_lock(self) -> Path:
        """Held by the window open on this data folder (there is one at a time)."""
        return self.data_dir / WINDOW_LOCK

    def check_user_output(self, path: Path | str) -> Path:
        """Refuses a file the user asked for (export, brief, backup) that would land among Dossier's own.

        Everything in the data folder (the database and its -wal/-shm, settings, the
        vector index, backups) and the models folder is Dossier's. The check is on
        where the write really lands: the folder with its symlinks and ``..`` resolved,
        and the name as given, since a file there is replaced (a symlink or hard link
        by that name is replaced too, never written through).

        Raises:
            WriteFailed: The path is inside one of those folders, or is one of them.
        """
        # Imported here: the window resolves its data folder (to claim it) before the memory
        # layer, which app.errors loads, is imported; that takes about a third of a second.
        from app.config.files import WriteFailed

        target = Path(path).expanduser()
        landing = target.parent.resolve() / target.name
        for folder, what in ((self.data_dir, "data folder"), (self.models_dir, "models folder")):
            folder = folder.resolve()
            if landing == folder or folder in landing.parents:
                raise WriteFailed(target, f"it is inside Dossier's {what} ({folder}); choose a place outside it")
        return target


def default_data_dir() -> Path:
    """The platform's user data folder for Dossier, used unless another one is chosen."""
    return platformdirs.user_data_path(APP_NAME, appauthor=False)


def resolve_paths(
    data_dir: str | Path | None = None, env: Mapping[str, str] | None = None, *, create: bool = True
) -> AppPaths:
    """Resolves the data dir and the models dir, and creates them (0700) unless ``create`` is false."""
    env = os.environ if env is None else env
    chosen = data_dir or env.get(ENV_HOME) or default_data_dir()
    models = env.get(ENV_MODELS) or default_data_dir() / "models"
    paths = AppPaths(
        data_dir=Path(chosen).expanduser().resolve(),
        models_dir=Path(models).expanduser().resolve(),
    )
    if create:
        ensure_private_dir(paths.data_dir)
        ensure_private_dir(paths.models_dir)
    return paths
