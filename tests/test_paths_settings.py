from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from app.config.paths import ENV_HOME, ENV_MODELS, resolve_paths
from app.config.settings import SCHEMA_VERSION, Settings, load_settings, save_settings


def test_data_dir_precedence_and_permissions(tmp_path: Path) -> None:
    env = {ENV_HOME: str(tmp_path / "from-env"), ENV_MODELS: str(tmp_path / "models")}
    assert resolve_paths(None, env).data_dir == tmp_path / "from-env"
    chosen = resolve_paths(tmp_path / "from-flag", env)
    assert chosen.data_dir == tmp_path / "from-flag"
    assert chosen.models_dir == tmp_path / "models"
    for folder in (chosen.data_dir, chosen.models_dir):
        assert folder.stat().st_mode & 0o777 == 0o700


def test_settings_round_trip_and_file_mode(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    settings = Settings(threads=2, temperature=0.2, auto_accept_project_ids=(3, 4), last_project_id=3)
    save_settings(path, settings)
    assert path.stat().st_mode & 0o777 == 0o600
    assert load_settings(path) == settings
    assert json.loads(path.read_text())["schema_version"] == SCHEMA_VERSION


def test_wrong_types_fall_back_to_defaults(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"threads": "many", "temperature": 1, "unknown": True}))
    settings = load_settings(path)
    assert settings.threads == Settings().threads and settings.temperature == 1.0


def test_damaged_or_newer_settings_are_set_aside(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    path.write_text("{oops")
    assert load_settings(path) == Settings()
    assert (tmp_path / "settings.unreadable.json").read_text() == "{oops"
    path.write_text(json.dumps({"schema_version": SCHEMA_VERSION + 1}))
    assert load_settings(path) == Settings()


def test_model_routing_settings_are_checked(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"chat_backend": "cloud", "background_backend": "remote", "remote_base_url": 5}))
    settings = load_settings(path)
    assert settings.chat_backend == "local" and settings.background_backend == "remote"
    assert settings.remote_base_url is None
    with pytest.raises(ValueError, match="chat_backend"):
        Settings(chat_backend="cloud")


def test_tests_run_with_a_temporary_home_data_and_models_folder(tmp_path: Path) -> None:
    # What the autouse fixture in conftest.py guarantees: the defaults are temporary folders.
    home = Path(os.environ["HOME"])
    paths = resolve_paths()
    assert home != Path("/root") and "pytest" in str(home)
    assert "pytest" in str(paths.data_dir) and "pytest" in str(paths.models_dir)


def test_a_change_in_one_front_end_keeps_what_the_other_saved_meanwhile(tmp_path: Path) -> None:
    """The window saving its geometry at quit must not undo `dossier model use` run while it was open."""
    from app.runtime import Runtime
    from memory import MemoryService

    paths = resolve_paths(tmp_path / "data", env={ENV_MODELS: str(tmp_path / "models")})
    save_settings(paths.settings_file, Settings(chat_backend="remote", remote_base_url="http://127.0.0.1:9/v1"))
    with MemoryService.open(paths.data_dir, reconcile=False, vectors=False) as service:
        window = Runtime(paths, service)
        assert window.settings.chat_backend == "remote"
        cli = load_settings(paths.settings_file)  # the CLI, meanwhile: back to the local model
        save_settings(paths.settings_file, Settings(**{**cli.__dict__, "chat_backend": "local"}))
        window.update_settings(window_geometry="AAAA")
        saved = load_settings(paths.settings_file)
        assert (saved.chat_backend, saved.window_geometry) == ("local", "AAAA")
        assert window.settings.chat_backend == "local"
        window.close()
