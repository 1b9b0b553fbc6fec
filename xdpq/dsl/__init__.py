"""The scheduling language: grammar, parser, checks (which lower to the IR)."""

from __future__ import annotations

import os
from pathlib import Path

from xdpq.dsl.check import check
from xdpq.dsl.parser import parse
from xdpq.errors import XdpqError

# As typing.TYPE_CHECKING, without importing typing on the way to a check (see cli.py).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from xdpq import ir

__all__ = ["check", "load", "parse", "read_source"]


def read_source(path: str | os.PathLike[str]) -> str:
    """A program's text, UTF-8, with its line ends as written: only a line feed ends
    a line, for the parser and for every position an error reports."""
    try:
        return Path(path).read_bytes().decode("utf-8")
    except OSError as exc:
        raise XdpqError(f"cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise XdpqError(f"{path} is not UTF-8 text (byte {exc.start})") from None


def load(path: str | os.PathLike[str]) -> ir.Program:
    """Parse and check a scheduler file into its IR."""
    text = read_source(path)
    return check(parse(text, str(path)), text)
