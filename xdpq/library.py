"""The scheduler library in ``schedulers/``, by name, compiled on demand.

Like ``kern/`` (see :mod:`xdpq.bpf.build`), the library is read from the
source tree the package is installed from.
"""

from __future__ import annotations

from pathlib import Path

from xdpq import ir
from xdpq.codegen.build import Compiled, compile_file, compile_source
from xdpq.dsl import check, parse

LIBRARY_DIR = Path(__file__).resolve().parents[1] / "schedulers"


def library_path(name: str) -> Path:
    return LIBRARY_DIR / f"{name}.xdpq"


def names() -> list[str]:
    return sorted(p.stem for p in LIBRARY_DIR.glob("*.xdpq"))


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
