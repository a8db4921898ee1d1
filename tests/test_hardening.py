"""Hostile and careless paths: an output never lands on Dossier's own files, a planted link is never followed."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from app.config.paths import resolve_paths
from tests.conftest import Run


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def seeded(run: Run, data_dir: Path) -> Path:
    assert run("project", "create", "Acme")[0] == 0
    assert run("fact", "add", "--project", "Acme", "Budget is 40k EUR")[0] == 0
    return data_dir


def _commands(output: str) -> list[list[str]]:
    return [
        ["export", "--project", "Acme", "-o", output],
        ["brief", "--project", "Acme", "--format", "md", "-o", output],
        ["backup", "-o", output],
    ]


SPELLINGS: dict[str, Callable[[Path, Path], str]] = {
    "the database": lambda d, _t: str(d / "dossier.sqlite3"),
    "its write-ahead log": lambda d, _t: str(d / "dossier.sqlite3-wal"),
    "the settings": lambda d, _t: str(d / "settings.json"),
    "the backups folder": lambda d, _t: str(d / "backups" / "mine.zip"),
    "the vector index": lambda d, _t: str(d / "vector-index" / "chroma.sqlite3"),
    "a detour through ..": lambda d, _t: str(d / "backups" / ".." / "dossier.sqlite3"),
    "a symlinked folder": lambda d, t: str(t / "looks-harmless" / "dossier.sqlite3"),
    "the data folder itself": lambda d, _t: str(d),
}


@pytest.mark.parametrize("spelling", sorted(SPELLINGS))
def test_no_output_lands_on_dossiers_own_files(run: Run, seeded: Path, tmp_path: Path, spelling: str) -> None:
    (tmp_path / "looks-harmless").symlink_to(seeded, target_is_directory=True)
    before = _digest(seeded / "dossier.sqlite3")
    target = SPELLINGS[spelling](seeded, tmp_path)
    for argv in _commands(target):
        code, out, err = run(*argv)
        assert code == 2, (argv, out, err)
        assert "inside Dossier's data folder" in err and "Traceback" not in err
    assert _digest(seeded / "dossier.sqlite3") == before
    code, out, _ = run("fact", "list", "--project", "Acme")
    assert code == 0 and "Budget is 40k EUR" in out


@pytest.mark.parametrize(("folder", "relative"), [(".", "dossier.sqlite3"), ("vector-index", "../dossier.sqlite3")])
def test_a_relative_output_path_is_resolved_before_the_check(
    run: Run, seeded: Path, monkeypatch: pytest.MonkeyPatch, folder: str, relative: str
) -> None:
    monkeypatch.chdir(seeded / folder)
    code, _, err = run("export", "--project", "Acme", "-o", relative)
    assert code == 2 and "data folder" in err
    assert run("fact", "list", "--project", "Acme")[0] == 0


def test_the_models_folder_is_refused_too(tmp_path: Path) -> None:
    paths = resolve_paths(tmp_path / "data", env={"DOSSIER_MODELS_DIR": str(tmp_path / "models")})
    with pytest.raises(OSError, match="models folder"):
        paths.check_user_output(tmp_path / "models" / "default.gguf")
    assert paths.check_user_output(tmp_path / "elsewhere.json") == tmp_path / "elsewhere.json"


def test_a_link_outside_to_the_database_is_replaced_not_written_through(run: Run, seeded: Path, tmp_path: Path) -> None:
    database = seeded / "dossier.sqlite3"
    before = _digest(database)
    os.link(database, tmp_path / "hard.json")
    (tmp_path / "soft.json").symlink_to(database)
    for name in ("hard.json", "soft.json"):
        code, _, err = run("export", "--project", "Acme", "-o", str(tmp_path / name))
        assert code == 0, err
        assert (tmp_path / name).read_text().startswith("{")
        assert not (tmp_path / name).is_symlink()
    assert _digest(database) == before
    assert run("fact", "list", "--project", "Acme")[0] == 0


def test_a_planted_partial_file_link_is_never_followed(run: Run, seeded: Path, tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    victim.chmod(0o644)
    outputs = tmp_path / "out"
    outputs.mkdir()
    # The names the writer used before: a hidden partial file beside the target.
    for name in ("export.json", "brief.md", "backup.zip"):
        (outputs / f".{name}.partial").symlink_to(victim)
    assert run("export", "--project", "Acme", "-o", str(outputs / "export.json"))[0] == 0
    assert run("brief", "--project", "Acme", "-o", str(outputs / "brief.md"))[0] == 0
    assert run("backup", "-o", str(outputs / "backup.zip"))[0] == 0
    assert victim.read_text() == "keep me" and (victim.stat().st_mode & 0o777) == 0o644
    for name in ("export.json", "brief.md", "backup.zip"):
        written = outputs / name
        assert written.is_file() and not written.is_symlink()
        assert (written.stat().st_mode & 0o777) == 0o600
    leftovers = sorted(p.name for p in outputs.iterdir() if p.name.endswith(".partial") and not p.is_symlink())
    assert leftovers == []


def test_the_path_checked_is_the_path_written(
    run: Run, seeded: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A folder literally named "~" that links to the data folder: "~/x" must mean one thing.
    workdir = tmp_path / "work"
    workdir.mkdir()
    (workdir / "~").symlink_to(seeded, target_is_directory=True)
    monkeypatch.chdir(workdir)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (tmp_path / "home").mkdir()
    before = _digest(seeded / "dossier.sqlite3")
    code, _, err = run("export", "--project", "Acme", "-o", "~/dossier.sqlite3")
    assert code == 0, err
    assert (tmp_path / "home" / "dossier.sqlite3").read_text().startswith("{")
    assert _digest(seeded / "dossier.sqlite3") == before


@pytest.mark.parametrize("folder", ["b?x", "a#1", "c%41", "100%25"])
def test_a_data_folder_with_url_characters_in_its_path_works(run: Run, tmp_path: Path, folder: str) -> None:
    data = tmp_path / folder / "data"
    for argv in (["project", "create", "Acme"], ["fact", "add", "--project", "Acme", "Budget is 40k"]):
        assert run("--data-dir", str(data), *argv)[0] == 0
    code, out, err = run("--data-dir", str(data), "fact", "list", "--project", "Acme")
    assert code == 0 and "Budget is 40k" in out, err
    assert run("--data-dir", str(data), "backup", "-o", str(tmp_path / "b.zip"))[0] == 0
    target = tmp_path / f"{folder}-restored" / "data"
    code, out, err = run("--data-dir", str(target), "restore", str(tmp_path / "b.zip"))
    assert code == 0 and "1 project" in out, err
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == ["b.zip"], "no stray database beside"
