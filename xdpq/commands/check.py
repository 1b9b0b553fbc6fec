"""``xdpq check FILE``: parse and check a scheduler program."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from xdpq.dsl import check, parse, read_source
from xdpq.errors import SourceError, XdpqError


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "check",
        help="check a scheduler program for mistakes",
        description="Parse and check a scheduler program; errors point at line and column.",
        epilog="example: xdpq check schedulers/stfq.xdpq",
    )
    p.add_argument("file", type=Path, help="the .xdpq program")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        source = read_source(args.file)
    except XdpqError as exc:
        print(f"xdpq check: {exc}", file=sys.stderr)
        return 1
    try:
        check(parse(source, str(args.file)), source)
    except SourceError as err:
        print(err, file=sys.stderr)
        return 1
    print(f"{args.file}: ok")
    return 0
