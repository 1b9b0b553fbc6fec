"""The scheduling language: grammar, parser, checks."""

from xdpq.dsl.check import check
from xdpq.dsl.parser import parse

__all__ = ["check", "parse"]
