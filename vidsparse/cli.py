"""Command line entry point: one parser, one sub-command per module in vidsparse.commands.

Each command module exposes ``register(subparsers)`` which adds its parser and sets
``func=run``; the CLI stays thin and the library does the work.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from corruptions.errors import CorruptionError
from vidsparse.errors import UserError

COMMAND_MODULES = ("train", "eval", "corrupt", "report", "export", "sweep", "list", "data", "hardness", "fidelity")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vidsparse",
        description="Sparse training and corruption robustness for video and image models.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(f"vidsparse.commands.{name}").register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (UserError, CorruptionError) as err:  # bad input: one line, no traceback
        print(f"vidsparse {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"vidsparse {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
