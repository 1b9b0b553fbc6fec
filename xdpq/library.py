"""The scheduler library in ``schedulers/``, by name, compiled on demand.

Where ``schedulers/`` is, in a checkout and when installed: :mod:`xdpq.resources`.
"""

from __future__ import annotations

from pathlib import Path

from xdpq import ir
from xdpq.codegen.build import Compiled, compile_file, compile_source
from xdpq.dsl import check, parse
from xdpq.resources import schedulers_dir


def library_path(name: str) -> Path:
    return schedulers_dir() / f"{name}.xdpq"


def names() -> list[str]:
    return sorted(p.stem for p in schedulers_dir().glob("*.xdpq"))


def compile_library(name: str) -> Compiled:
    """A library scheduler's BPF object (cached by its generated C)."""
    return compile_file(library_path(name))


def fifo_source(capacity: int) -> str:
    """One FIFO of the given capacity: the plainest scheduler, which the datapath's
    own tests and benchmarks drive when the policy is not what they are about."""
    return f"scheduler fifo\nqueue q: fifo(capacity = {capacity})\non enqueue {{ enqueue q }}\n"


def fifo_program(capacity: int) -> ir.Program:
    text = fifo_source(capacity)
    return check(parse(text, f"fifo-{capacity}.xdpq"), text)


def compile_fifo(capacity: int) -> Compiled:
    return compile_source(fifo_source(capacity), f"fifo-{capacity}.xdpq")
