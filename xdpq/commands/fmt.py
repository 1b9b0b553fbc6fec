"""``xdpq fmt FILE...``: rewrite scheduler programs in the canonical layout."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from xdpq.commands import emit, json_options
from xdpq.dsl import read_source
from xdpq.dsl.fmt import format as format_program
from xdpq.errors import SourceError, XdpqError


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "fmt",
        help="lay out scheduler programs canonically (comments kept)",
        description="Rewrite scheduler programs in the canonical layout: two-space blocks, one "
                    "statement per line, normalised spacing, only the parentheses the meaning "
                    "needs, numbers as written, every comment kept. A program that does not "
                    "parse is left alone and its error shown. Files already formatted are not "
                    "touched; others are replaced atomically.",
        epilog="examples:\n  xdpq fmt schedulers/*.xdpq\n"
               "  xdpq fmt --check schedulers/*.xdpq          (exit 1 if any would change)\n"
               "  xdpq fmt --check --diff my.xdpq             (and show how)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("files", type=Path, nargs="+", metavar="FILE", help="a .xdpq program")
    p.add_argument("--check", action="store_true",
                   help="change nothing; list the files that would change and exit 1 if any")
    p.add_argument("--diff", action="store_true",
                   help="with --check (implied): also print a unified diff of each change")
    json_options(p)  # [{file, status: unchanged|reformatted|would_reformat|error, ...}]
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    check = args.check or args.diff
    results = [_one(path, check, args.diff) for path in args.files]
    for r in results:
        if r.get("error"):
            print(r["error"], file=sys.stderr)
        if args.json:
            continue
        if r["status"] == "would_reformat":
            print(f"would reformat {r['file']}")
            sys.stdout.write(r.get("diff", ""))
        elif r["status"] == "reformatted":
            print(f"reformatted {r['file']}")
    if args.json:
        emit(args, results)
    return int(any(r["status"] in ("would_reformat", "error") for r in results))


def _one(path: Path, check: bool, diff: bool) -> dict[str, str]:
    """Format one file (or, with ``check``, say whether it would change)."""
    out = {"file": str(path), "status": "error"}
    try:
        source = read_source(path)
    except XdpqError as exc:
        return {**out, "error": f"xdpq fmt: {exc}"}
    try:
        formatted = format_program(source, str(path))
    except SourceError as err:
        return {**out, "error": f"{err}\nxdpq fmt: {path} left unchanged: it does not parse"}
    if formatted == source:
        return {**out, "status": "unchanged"}
    if check:
        out["status"] = "would_reformat"
        if diff:
            import difflib  # here: a file that needs no change needs no diff

            out["diff"] = "".join(difflib.unified_diff(
                source.splitlines(keepends=True), formatted.splitlines(keepends=True),
                f"{path}", f"{path} (formatted)"))
        return out
    try:
        _replace(path, formatted)
    except OSError as exc:
        return {**out, "error": f"xdpq fmt: cannot write {path}: {exc.strerror or exc}"}
    return {**out, "status": "reformatted"}


def _replace(path: Path, text: str) -> None:
    """Write text to a file beside path, then rename it over path (atomic), keeping its mode."""
    import tempfile  # here: it imports random, which checking a file does not need

    real = Path(os.path.realpath(path))
    mode = real.stat().st_mode & 0o7777
    fd, tmp = tempfile.mkstemp(dir=real.parent, prefix=f".{real.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, real)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
