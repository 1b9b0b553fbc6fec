"""The scheduling language: grammar, parser, checks."""

from xdpq.dsl.parser import parse

__all__ = ["parse"]
