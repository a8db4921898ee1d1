"""The ``dossier`` command line.

Every command a user can get wrong ends in a one-line message on stderr and
exit code 2, never a traceback; nothing is written before input is checked.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, TextIO, cast

from app.config.logs import setup_logging
from app.config.paths import resolve_paths
from app.errors import USER_ERRORS
from app.portability.backup import BackupError
from app.portability.recovery import open_warnings, recover_from_damage, repair_notes
from app.runtime import Runtime
from memory import (
    CorruptDatabaseError,
    MemoryService,
)

if TYPE_CHECKING:
    from app.portability.brief import Brief
from cli.commands import run_restore
from cli.common import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, TerminalSafe, UsageError
from cli.parser import _ArgumentsRejected, build_parser


def _say_repairs(runtime: Runtime, err: TextIO) -> None:
    """What opening the data folder found damaged: rebuilt indexes, and changes that may be lost."""
    for line in open_warnings(runtime.service, runtime.paths) + repair_notes(runtime.service.last_repair):
        print(f"dossier: {line}", file=err)


def _auto_backup(runtime: Runtime, err: TextIO) -> None:
    try:
        runtime.backup_if_due()
    except BackupError as error:  # the command itself succeeded; say why the backup did not
        print(f"dossier: automatic backup skipped: {error}", file=err)


def main(
    argv: Sequence[str] | None = None,
    *,
    out: TextIO | None = None,
    err: TextIO | None = None,
    open_service: Callable[..., MemoryService] = MemoryService.open,
    no_command: Callable[[argparse.Namespace], int] | None = None,
    render_pdf: Callable[[Brief], bytes] | None = None,
) -> int:
    """Runs one command.

    Args:
        render_pdf: Draws a brief as PDF (Qt's, from the desktop part: this layer
            imports no Qt); without it ``brief -o x.pdf`` says PDF is not available.
        no_command: What to do when no command is given (the desktop entry
            point opens the window); by default the help is printed.
    """
    out = cast(TextIO, TerminalSafe(out or sys.stdout))
    err = cast(TextIO, TerminalSafe(err or sys.stderr))
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except _ArgumentsRejected as rejected:
        err.write(rejected.usage)
        print(f"dossier: error: {rejected}", file=err)
        return EXIT_USAGE
    except SystemExit as done:  # --help
        return int(done.code or 0)
    args.render_pdf = render_pdf
    if args.command is None:
        if no_command is not None:
            return no_command(args)
        parser.print_help(out)
        return EXIT_OK
    # Files Dossier creates (database, index, exports) are the user's alone.
    os.umask(0o077)
    try:
        if args.data_dir is not None and not args.data_dir.strip():
            raise UsageError("--data-dir is empty; give a folder, or leave the option out for the default one")
        if args.data_dir is not None and not args.data_dir.isprintable():
            # Bytes that are not UTF-8 arrive as lone surrogates; SQLite and Chroma cannot take them.
            raise UsageError("--data-dir has characters that cannot be used in a folder name here")
        if args.command == "restore":
            return run_restore(args, out, open_service)
        paths = resolve_paths(args.data_dir)
        setup_logging(paths.logs_dir)
        if getattr(args, "output", None):
            # Before anything is opened or written; the command then writes to exactly the
            # path that was checked ("~" expanded), not to another spelling of it.
            args.output = str(paths.check_user_output(args.output))
        # Only commands that search need the vector index reconciled before they run;
        # the others start without loading it (a third of a second, most of their start-up).
        with Runtime(paths, open_service(paths.data_dir, vectors=getattr(args, "searches", False))) as runtime:
            _say_repairs(runtime, err)
            target = runtime if getattr(args, "wants_runtime", False) else runtime.service
            # Commands write their notes to sys.stderr; that is ``err`` here.
            with contextlib.redirect_stderr(err):
                code = int(args.handler(target, args, out))
            _auto_backup(runtime, err)
            return code
    except BrokenPipeError:
        # Piped into `head` or `less` that quit early: the reader has what it wanted. Nothing
        # more may be written to the closed pipe, not even by Python's flush at exit.
        _silence_stdout()
        return EXIT_OK
    except CorruptDatabaseError as error:
        print(f"dossier: {recover_from_damage(resolve_paths(args.data_dir), error).message}", file=err)
        return EXIT_USAGE
    except USER_ERRORS as error:
        print(f"dossier: {error}", file=err)
        return EXIT_USAGE
    except OSError as error:
        print(f"dossier: {error.strerror or error}: {error.filename or ''}".rstrip(": "), file=err)
        # A path the user named that is a folder, not one, or not there: their input, not a failure.
        named_wrong = isinstance(error, IsADirectoryError | NotADirectoryError | FileNotFoundError)
        return EXIT_USAGE if named_wrong else EXIT_FAILURE
    except KeyboardInterrupt:
        return 130


def _silence_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # no real stdout (a test's StringIO): nothing to silence
        pass
