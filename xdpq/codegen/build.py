"""A scheduler file to a BPF object: parse, check, generate C, compile.

The C goes next to the object (``OUT.bpf.c``), so that a clang error's
context can be looked at; its ``#line`` directives point into the
``.xdpq`` file, so clang's and the verifier's messages name its lines.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from xdpq import ir
from xdpq.bpf.build import compile_bpf
from xdpq.codegen.c import generate
from xdpq.dsl import check, parse, read_source
from xdpq.errors import BuildError
from xdpq.resources import cache_dir


@dataclass(frozen=True, slots=True)
class Compiled:
    program: ir.Program
    c_path: Path
    obj_path: Path


def compile_source(text: str, filename: str,
                   out: str | os.PathLike[str] | None = None) -> Compiled:
    """Compile a program's text; the object goes to ``out`` or the cache (keyed by the
    generated C and the kern/ headers)."""
    prog = check(parse(text, filename), text)
    if out is not None:
        c_path = Path(out).with_suffix(".bpf.c")
        try:
            c_path.parent.mkdir(parents=True, exist_ok=True)
            c_path.write_text(generate(prog, c_path.name))
        except OSError as exc:
            raise BuildError(f"cannot write {c_path}: {exc.strerror}") from None
        return Compiled(prog, c_path, compile_bpf(c_path, out=out))
    c_text = generate(prog, f"{prog.name}.bpf.c")
    digest = hashlib.sha256(c_text.encode()).hexdigest()[:16]
    c_path = cache_dir() / "sched" / digest / f"{prog.name}.bpf.c"
    if not c_path.exists():
        c_path.parent.mkdir(parents=True, exist_ok=True)
        c_path.write_text(c_text)
    return Compiled(prog, c_path, compile_bpf(c_path))


def compile_file(path: str | os.PathLike[str],
                 out: str | os.PathLike[str] | None = None) -> Compiled:
    return compile_source(read_source(path), str(path), out)
