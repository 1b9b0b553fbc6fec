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
from xdpq.bpf.build import cache_dir, compile_bpf
from xdpq.codegen.c import generate
from xdpq.dsl import check, parse
from xdpq.errors import XdpqError


@dataclass(frozen=True, slots=True)
class Compiled:
    program: ir.Program
    c_path: Path
    obj_path: Path


def read_source(path: str | os.PathLike[str]) -> str:
    try:
        return Path(path).read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise XdpqError(f"cannot read {path}: {exc}") from None


def load_program(path: str | os.PathLike[str]) -> ir.Program:
    """Parse and check a scheduler file into its IR."""
    return check(parse(read_source(path), str(path)), read_source(path))


def compile_source(text: str, filename: str,
                   out: str | os.PathLike[str] | None = None) -> Compiled:
    """Compile a program's text; the object goes to ``out`` or the cache."""
    prog = check(parse(text, filename), text)
    if out is None:
        digest = hashlib.sha256(f"{filename}\0{text}".encode()).hexdigest()[:16]
        obj = cache_dir() / "sched" / f"{prog.name}-{digest}.o"
    else:
        obj = Path(out)
    c_path = obj.with_suffix(".bpf.c")
    c_path.parent.mkdir(parents=True, exist_ok=True)
    c_text = generate(prog, c_path.name)
    if not (out is None and obj.exists() and c_path.exists() and c_path.read_text() == c_text):
        c_path.write_text(c_text)
        compile_bpf(c_path, out=obj)
    return Compiled(prog, c_path, obj)


def compile_file(path: str | os.PathLike[str],
                 out: str | os.PathLike[str] | None = None) -> Compiled:
    return compile_source(read_source(path), str(path), out)
