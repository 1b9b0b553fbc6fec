"""``xdpq compile FILE -o OUT.o``: a scheduler program to a BPF object."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from xdpq.bpf import BpfObject
from xdpq.codegen.build import compile_file
from xdpq.codegen.c import generate
from xdpq.commands import emit, json_options
from xdpq.dsl import load
from xdpq.net import host


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "compile",
        help="compile a scheduler program to a BPF object",
        description="Check a scheduler program, generate its BPF C and compile it with clang. "
                    "Errors, also clang's and the verifier's, point into the .xdpq file.",
        epilog="examples:\n  xdpq compile schedulers/drr.xdpq -o drr.o\n"
               "  xdpq compile schedulers/drr.xdpq --emit-c > drr.bpf.c\n"
               "  xdpq compile schedulers/drr.xdpq -o drr.o --verify   (as root: load it too)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("file", type=Path, help="the .xdpq program")
    p.add_argument("-o", "--output", type=Path, help="the object file to write")
    p.add_argument("--emit-c", action="store_true",
                   help="print the generated C (to the -o file when given, else stdout)")
    p.add_argument("--verify", action="store_true",
                   help="also load the object into the kernel's verifier (needs root)")
    json_options(p)  # {object, c_source, scheduler, verified}
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.emit_c:
        c_text = generate(load(args.file), args.output.name if args.output else "scheduler.bpf.c")
        if args.output:
            args.output.write_text(c_text)
        else:
            sys.stdout.write(c_text)
        return 0
    if args.output is None:
        print("xdpq compile: say where the object goes: -o OUT.o (or --emit-c)", file=sys.stderr)
        return 2
    if args.verify:  # before the work, and instead of libbpf's words about memlock
        host.check_capabilities("compile --verify", "loads the object into the kernel")
    compiled = compile_file(args.file, args.output)
    if args.verify:
        obj = BpfObject(compiled.obj_path)
        try:
            obj.load()
        finally:
            obj.close()
    if args.json:
        emit(args, {"object": str(args.output), "c_source": str(compiled.c_path),
                    "scheduler": compiled.program.name, "verified": args.verify})
        return 0
    print(f"{args.output}: {compiled.program.name}"
          + (", loaded by the verifier" if args.verify else "")
          + f"; its C, which clang compiled: {compiled.c_path}")
    return 0
