"""``xdpq check FILE``: parse and check a scheduler program."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from xdpq.commands import emit, json_options
from xdpq.dsl import check, parse, read_source
from xdpq.errors import SourceError, SourceWarning, XdpqError


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "check",
        help="check a scheduler program for mistakes",
        description="Parse and check a scheduler program; errors point at line and column.",
        epilog="example: xdpq check schedulers/stfq.xdpq",
    )
    p.add_argument("file", type=Path, help="the .xdpq program")
    # {file, ok, scheduler, warnings: [...]} or {file, ok, error: {message, line, column, hint}}
    json_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        source = read_source(args.file)
    except XdpqError as exc:
        print(f"xdpq check: {exc}", file=sys.stderr)
        return 1
    try:
        prog = check(parse(source, str(args.file)), source)
    except SourceError as err:
        print(err, file=sys.stderr)
        if args.json:
            emit(args, {"file": str(args.file), "ok": False, "error": source_error(err)})
        return 1
    for warning in prog.warnings:
        print(warning.render(), file=sys.stderr)
    if args.json:
        emit(args, {"file": str(args.file), "ok": True, "scheduler": prog.name,
                    "warnings": [source_error(w) for w in prog.warnings]})
    else:
        print(f"{args.file}: ok" + (f" ({len(prog.warnings)} warning"
                                    f"{'s' * (len(prog.warnings) > 1)})" if prog.warnings else ""))
    return 0


def source_error(err: SourceError | SourceWarning) -> dict[str, object]:
    """A mistake (or a warning) in a program, as JSON: where it is, what it is, what
    to do."""
    return {"message": err.message, "line": err.span.line, "column": err.span.column,
            "end_line": err.span.end_line, "end_column": err.span.end_column,
            "hint": err.hint}
