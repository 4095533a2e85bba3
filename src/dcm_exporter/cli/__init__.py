"""The ``dcm-exporter`` command line.

Every command has ``--help``. Exit codes: 0 success, 1 the operation ran but did not succeed (an export that did
not complete, a validation with errors, a C-ECHO that failed), 2 wrong usage or bad input (configuration, schedule,
LDIF), 130 interrupted, 141 the reader of the output went away (a closed pipe, as for SIGPIPE).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from dcm_exporter import __version__
from dcm_exporter.cli import _commands
from dcm_exporter.cli._codes import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE
from dcm_exporter.cli._context import NotApplied, add_config_options, add_queue_options, add_source_options
from dcm_exporter.cli._output import error
from dcm_exporter.errors import CodecError, ConfigurationError, DcmExporterError

__all__ = ["EXIT_BROKEN_PIPE", "EXIT_FAILED", "EXIT_INTERRUPTED", "EXIT_OK", "EXIT_USAGE", "build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``dcm-exporter`` with all its sub-commands."""
    parser = argparse.ArgumentParser(
        prog="dcm-exporter",
        description=(
            "Send stored DICOM objects to remote destinations the way dcm4chee-arc-light's exporter does: "
            "dcm4che configuration (LDIF, JSON, LDAP), dicom:/stow:/storage:/noop: transports, schedules "
            "and a durable export queue."
        ),
        epilog="Run 'dcm-exporter demo' for a first export with no set-up.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="more logging (-v: info, -vv: debug, incl. DICOM)"
    )
    # the shared options are accepted before the sub-command too (dcm-exporter --config a.ldif exporter list)
    add_config_options(parser)
    add_queue_options(parser)
    add_source_options(parser)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    _commands.register(sub)
    return parser


def _configure_logging(verbosity: int) -> None:
    level = logging.WARNING if verbosity <= 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)-7s %(name)s: %(message)s")
    if verbosity < 2:
        # pynetdicom logs every association at INFO: keep it for -vv
        logging.getLogger("pynetdicom").setLevel(logging.WARNING)
    # psycopg_pool logs every background connection attempt while the task database is away (several a
    # second, over lines): the store reports an outage itself, once when it starts and once when it ends
    logging.getLogger("psycopg.pool").setLevel(logging.ERROR if verbosity < 2 else logging.NOTSET)
    # one WARNING per failed instance: with -v (without, the task's one-line summary says it)
    logging.getLogger("dcm_exporter.failures").setLevel(logging.WARNING if verbosity >= 1 else logging.ERROR)


EXIT_BROKEN_PIPE = 141  # what a shell reports for a process ended by SIGPIPE (128 + 13)


def _silence_stdout() -> None:
    """Point stdout at /dev/null so that the interpreter's final flush does not complain again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # pragma: no cover - stdout without a file descriptor
        pass


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``dcm-exporter`` console script; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    _configure_logging(args.verbose)
    try:
        code: int = args.handler(args)
    except BrokenPipeError:
        # the reader went away (dcm-exporter queue list --json | head): no message, as for SIGPIPE
        _silence_stdout()
        return EXIT_BROKEN_PIPE
    except NotApplied as exc:  # a --dry-run, or a plan not confirmed: the plan and why were shown
        return exc.exit_code
    except KeyboardInterrupt:
        error("interrupted")
        return EXIT_INTERRUPTED
    except (ConfigurationError, CodecError, ValueError) as exc:
        error(str(exc))
        return EXIT_USAGE
    except DcmExporterError as exc:
        error(str(exc))
        return EXIT_FAILED
    except OSError as exc:
        error(str(exc))
        return EXIT_FAILED
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
