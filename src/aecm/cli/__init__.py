"""The ``aecm`` command line.

Each subcommand lives in its own module with a ``register(commands)`` function that adds its
parser and sets ``handler``; :func:`main` only assembles them and maps failures to exit codes:
0 success, 2 usage error (argparse), 1 a data or model error, printed as one line
(``--debug`` shows the traceback instead).
"""

from __future__ import annotations

import argparse
import importlib
import sys
import traceback
from collections.abc import Sequence

from aecm._version import __version__
from aecm.cli._common import CommandError

__all__ = ["main"]

# The subcommand modules, in the order ``aecm --help`` lists them.
SUBCOMMANDS = ("demo", "datasets", "bench", "fit", "select-k", "predict", "report")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="aecm",
        description="Deep clustering with the clustering module (CM) and AE-CM.",
    )
    parser.add_argument("--version", action="version", version=f"aecm {__version__}")
    parser.add_argument(
        "--debug", action="store_true", help="show the full traceback when a command fails"
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMANDS:
        importlib.import_module(f"aecm.cli.{name.replace('-', '_')}").register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (0 success, 2 usage error, 1 failure)."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return args.handler(args)
    except (CommandError, ValueError, TypeError, OSError) as exc:
        if args.debug:
            traceback.print_exc()
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(f"aecm: error: {message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("aecm: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
