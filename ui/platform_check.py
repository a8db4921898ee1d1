"""Checks, before Qt starts, that the desktop's shared libraries are there.

On a bare Debian or Ubuntu machine Qt's X11 platform plugin ("xcb") fails to load
and Qt aborts the process with a hint that names the wrong package (it blames
``libxcb-cursor0`` when ``libxcb-icccm4`` and ``libxcb-keysyms1`` are missing).
So we ask the dynamic linker (``ldd``) which libraries the plugin cannot find and
name the exact packages to install, before Qt gets the chance to abort.

``python -m ui.platform_check`` prints the Debian packages still missing, one a
line; the Makefile installs them where it may (root with apt).
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

#: Shared libraries Qt's xcb plugin (and QtGui under it) loads, by the Debian
#: package that ships each. Ubuntu uses the same names.
DEBIAN_PACKAGE_OF: dict[str, str] = {
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-xfixes.so.0": "libxcb-xfixes0",
    "libxcb-sync.so.1": "libxcb-sync1",
    "libxcb-shm.so.0": "libxcb-shm0",
    "libxcb-render.so.0": "libxcb-render0",
    "libxcb-xinerama.so.0": "libxcb-xinerama0",
    "libxcb-xinput.so.0": "libxcb-xinput0",
    "libxcb-util.so.1": "libxcb-util1",
    "libxcb-glx.so.0": "libxcb-glx0",
    "libxcb.so.1": "libxcb1",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libxkbcommon.so.0": "libxkbcommon0",
    "libX11-xcb.so.1": "libx11-xcb1",
    "libX11.so.6": "libx11-6",
    "libSM.so.6": "libsm6",
    "libICE.so.6": "libice6",
    "libEGL.so.1": "libegl1",
    "libGL.so.1": "libgl1",
    "libOpenGL.so.0": "libopengl0",
    "libGLX.so.0": "libglx0",
    "libfontconfig.so.1": "libfontconfig1",
    "libfreetype.so.6": "libfreetype6",
    "libdbus-1.so.3": "libdbus-1-3",
    "libglib-2.0.so.0": "libglib2.0-0",
}

_NOT_FOUND = re.compile(r"^\s*(\S+)\s+=>\s+not found\s*$")


@dataclass(frozen=True)
class PlatformProblem:
    """Why the window cannot start, in words, with the command that fixes it where there is one."""

    message: str
    packages: tuple[str, ...] = ()


def xcb_plugin_path() -> Path | None:
    """The X11 platform plugin of the installed PySide6, found without loading Qt."""
    spec = importlib.util.find_spec("PySide6")
    if spec is None or not spec.submodule_search_locations:
        return None
    for root in spec.submodule_search_locations:
        plugin = Path(root) / "Qt" / "plugins" / "platforms" / "libqxcb.so"
        if plugin.is_file():
            return plugin
    return None


def missing_libraries(binary: Path) -> list[str]:
    """The shared libraries ``binary`` needs (directly or not) that the dynamic linker cannot find.

    Returns an empty list where ``ldd`` is not available: then Qt's own message is all we have.
    """
    ldd = shutil.which("ldd")
    if ldd is None:
        return []
    try:
        listing = subprocess.run([ldd, str(binary)], capture_output=True, text=True, timeout=30, check=False).stdout
    except (OSError, subprocess.TimeoutExpired):
        return []
    missing: list[str] = []
    for line in listing.splitlines():
        match = _NOT_FOUND.match(line)
        if match and match.group(1) not in missing:
            missing.append(match.group(1))
    return missing


def packages_for(libraries: list[str]) -> tuple[list[str], list[str]]:
    """Splits library names into (Debian packages that ship them, libraries with no known package)."""
    packages: list[str] = []
    unknown: list[str] = []
    for library in libraries:
        package = DEBIAN_PACKAGE_OF.get(library)
        if package is None:
            unknown.append(library)
        elif package not in packages:
            packages.append(package)
    return packages, unknown


def _uses_xcb(env: Mapping[str, str]) -> bool:
    platform = env.get("QT_QPA_PLATFORM", "")
    if platform:
        return platform.split(":")[0].split(";")[0] == "xcb"
    # Qt picks Wayland first where a Wayland session runs, and falls back to xcb.
    return not env.get("WAYLAND_DISPLAY")


def check_platform(env: Mapping[str, str] | None = None, plugin: Path | None = None) -> PlatformProblem | None:
    """What stops Qt's window from starting on this Linux machine, or None when nothing we can see.

    Args:
        env: The environment Qt will see (``os.environ`` by default).
        plugin: The xcb platform plugin to check (the installed PySide6's by default).
    """
    env = os.environ if env is None else env
    if not sys.platform.startswith("linux") or not _uses_xcb(env):
        return None
    plugin = plugin or xcb_plugin_path()
    if plugin is not None:
        packages, unknown = packages_for(missing_libraries(plugin))
        if packages or unknown:
            lines = ["Dossier's window cannot start: the desktop libraries Qt needs are missing."]
            if packages:
                lines.append("Install them with:")
                lines.append(f"    sudo apt install {' '.join(packages)}")
            if unknown:
                lines.append(f"Also missing (install the packages that provide them): {', '.join(unknown)}")
            lines.append("The command line works without them: dossier --help")
            return PlatformProblem("\n".join(lines), tuple(packages))
    if not env.get("DISPLAY") and not env.get("WAYLAND_DISPLAY"):
        return PlatformProblem(
            "Dossier's window needs a desktop session, and none is running here (DISPLAY is not set).\n"
            "Start it from your desktop, or use the command line: dossier --help"
        )
    return None


def main() -> int:
    """Prints the Debian packages the window still needs, one a line (for the Makefile)."""
    plugin = xcb_plugin_path()
    if sys.platform.startswith("linux") and plugin is not None:
        packages, _unknown = packages_for(missing_libraries(plugin))
        for package in packages:
            print(package)
    return 0


if __name__ == "__main__":
    sys.exit(main())
