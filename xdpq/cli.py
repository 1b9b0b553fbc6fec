"""The ``xdpq`` command line: one verb per module in :mod:`xdpq.commands`."""

from __future__ import annotations

import argparse
import importlib
import sys

from xdpq import __version__
from xdpq.errors import XdpqError

# Verb name -> module in xdpq.commands. Each module has ``register(subparsers)``
# that adds its parser and sets ``func(args) -> int``.
VERBS = ("doctor", "check", "fmt", "compile", "sim", "sweep", "deploy", "stats", "set", "down",
         "list", "demo")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="xdpq",
        description="Write a packet scheduler, simulate it, deploy it into XDP.",
    )
    parser.add_argument("--version", action="version", version=f"xdpq {__version__}")
    sub = parser.add_subparsers(dest="verb", metavar="VERB")
    for verb in VERBS:
        importlib.import_module(f"xdpq.commands.{verb}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except XdpqError as exc:
        print(f"xdpq {args.verb}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
