"""The window's start-up check: missing desktop libraries are named, not left to Qt's abort."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ui.platform_check import check_platform, missing_libraries, packages_for, xcb_plugin_path

ROOT = Path(__file__).resolve().parent.parent

needs_gcc = pytest.mark.skipif(shutil.which("gcc") is None or shutil.which("ldd") is None, reason="needs gcc and ldd")


def _binary_needing(tmp_path: Path, soname: str) -> Path:
    """A real shared object linked against ``soname``, which then disappears (as on a bare machine)."""
    stub_dir = tmp_path / "gone"
    stub_dir.mkdir()
    provider = tmp_path / "provider.c"
    provider.write_text("int dossier_probe(void) { return 1; }\n")
    user = tmp_path / "user.c"
    # It must call into the library, or the linker (--as-needed) drops the dependency.
    user.write_text("int dossier_probe(void);\nint dossier_use(void) { return dossier_probe(); }\n")
    stub = stub_dir / soname
    subprocess.run(["gcc", "-shared", "-fPIC", f"-Wl,-soname,{soname}", "-o", str(stub), str(provider)], check=True)
    consumer = tmp_path / "libconsumer.so"
    subprocess.run(["gcc", "-shared", "-fPIC", "-o", str(consumer), str(user), str(stub)], check=True)
    shutil.rmtree(stub_dir)
    return consumer


@needs_gcc
def test_a_library_the_linker_cannot_find_is_named(tmp_path: Path) -> None:
    consumer = _binary_needing(tmp_path, "libdossier-absent.so.3")
    assert missing_libraries(consumer) == ["libdossier-absent.so.3"]


@needs_gcc
def test_the_check_names_what_is_missing_before_qt_starts(tmp_path: Path) -> None:
    consumer = _binary_needing(tmp_path, "libdossier-absent.so.3")
    problem = check_platform({"DISPLAY": ":0"}, plugin=consumer)
    assert problem is not None
    assert "libdossier-absent.so.3" in problem.message and "dossier --help" in problem.message


def test_the_libraries_a_bare_debian_lacks_map_to_the_packages_that_ship_them() -> None:
    # What a fresh Debian 12 machine was missing, and the line the user is given.
    packages, unknown = packages_for(["libxcb-icccm.so.4", "libxcb-keysyms.so.1", "libxcb-cursor.so.0"])
    assert packages == ["libxcb-icccm4", "libxcb-keysyms1", "libxcb-cursor0"] and unknown == []


def test_no_display_is_said_in_words() -> None:
    # The Python binary stands in for a plugin whose libraries are all there.
    problem = check_platform({}, plugin=Path(sys.executable))
    assert problem is not None and "DISPLAY is not set" in problem.message


def test_the_installed_qt_has_its_platform_plugin() -> None:
    plugin = xcb_plugin_path()
    assert plugin is not None and plugin.name == "libqxcb.so"


def test_offscreen_and_wayland_are_not_checked_for_x11() -> None:
    assert check_platform({"QT_QPA_PLATFORM": "offscreen"}) is None
    assert check_platform({"QT_QPA_PLATFORM": "wayland", "WAYLAND_DISPLAY": "wayland-0"}) is None


def test_the_window_without_a_desktop_exits_with_a_message_not_an_abort(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    env["DOSSIER_HOME"] = str(tmp_path / "data")
    env["DOSSIER_MODELS_DIR"] = str(tmp_path / "models")
    done = subprocess.run(
        [sys.executable, "-m", "ui"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 1, done.stderr
    assert "Dossier's window" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "data").exists(), "nothing is created when the window cannot start"
