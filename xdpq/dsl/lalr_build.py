"""Writes :mod:`xdpq.dsl.lalr`, the language's parser, from ``grammar.lark``.

Building a Lark parser from the grammar takes longer than the rest of ``xdpq check``
together, so the parser is generated ahead of time with Lark's standalone generator:
a Python module that holds the parse tables and a copy of Lark's runtime, and does
not import Lark. That copy is Lark's code (under the MPL-2.0), so the module is not
committed: it is generated where xdpq is installed, by ``./run`` into the checkout
and by setup.py into a wheel::

    python -m xdpq.dsl.lalr_build [MODULE]

writes it (to MODULE, ``xdpq/dsl/lalr.py`` by default) unless the one there was made
from today's grammar (:mod:`xdpq.dsl.grammar`). :mod:`xdpq.dsl.parser` uses the
module only where it was; where it is absent or stale, the parser is built with Lark
when it is first needed, as the generated one would parse, only slower to start.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from xdpq.dsl.grammar import GENERATED, GRAMMAR, OPTIONS, header, is_current


def generate() -> str:
    """The module's text: the header, then what Lark's standalone generator writes."""
    flags = [f"--{name}" for name, on in OPTIONS.items() if on]
    out = subprocess.run([sys.executable, "-m", "lark.tools.standalone", *flags, str(GRAMMAR)],
                         capture_output=True, text=True, check=True).stdout
    # Lark's Transformer_NonRecursive calls typing.cast, which the standalone output
    # (of Lark 1.3.1) does not import.
    return header() + "from typing import cast\n" + out


def ensure(module: Path = GENERATED) -> bool:
    """Generates ``module`` unless it is current; whether it wrote it. The text is
    written beside it and renamed into place, so that no reader sees half a module."""
    if is_current(module):
        return False
    part = module.with_name(f".{module.name}.{os.getpid()}")
    part.write_text(generate())
    part.replace(module)
    return True


if __name__ == "__main__":
    ensure(Path(sys.argv[1]) if len(sys.argv) > 1 else GENERATED)
