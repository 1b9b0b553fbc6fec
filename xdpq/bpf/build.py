"""Compile BPF C with clang against the running kernel's BTF.

``vmlinux.h`` is generated from ``/sys/kernel/btf/vmlinux`` with bpftool and
cached per kernel build (keyed by a hash of the BTF blob); objects are cached
by a hash of their sources, the ``kern/`` headers and the flags, so a test
suite compiles each program once. Where ``kern/`` is: :mod:`xdpq.resources`.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from xdpq.errors import BuildError
from xdpq.resources import cache_dir, kern_dir

KERNEL_BTF = Path("/sys/kernel/btf/vmlinux")
_CFLAGS = ("-target", "bpf", "-mcpu=v3", "-O2", "-g", "-Wall", "-Wno-unused-function")
_DIAG = re.compile(
    r"^(?P<file>[^:\n]+):(?P<line>\d+):(?P<col>\d+): (?P<kind>error|fatal error): (?P<msg>.*)$"
)


def _arch_define() -> str:
    machine = os.uname().machine
    return {"x86_64": "x86", "aarch64": "arm64", "s390x": "s390"}.get(machine, machine)


def tool(name: str) -> str:
    sbin = Path("/usr/sbin") / name
    path = shutil.which(name) or (str(sbin) if sbin.exists() else None)
    if path is None:
        raise BuildError(f"{name} not found: install it (./run installs clang and bpftool)")
    return path


@cache
def vmlinux_h() -> Path:
    """Directory holding ``vmlinux.h`` for the running kernel (generated once)."""
    if not KERNEL_BTF.exists():
        raise BuildError(f"{KERNEL_BTF} is missing: the kernel lacks CONFIG_DEBUG_INFO_BTF")
    digest = hashlib.sha256(KERNEL_BTF.read_bytes()).hexdigest()[:16]
    out_dir = cache_dir() / f"vmlinux-{digest}"
    header = out_dir / "vmlinux.h"
    if not header.exists():
        out_dir.mkdir(parents=True, exist_ok=True)
        res = subprocess.run(
            [tool("bpftool"), "btf", "dump", "file", str(KERNEL_BTF), "format", "c"],
            capture_output=True,
            text=True,
        )
        if res.returncode != 0:
            raise BuildError(f"bpftool could not dump the kernel's BTF: {res.stderr.strip()}")
        tmp = header.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(res.stdout)
        tmp.replace(header)
    return out_dir


@dataclass(frozen=True, slots=True)
class Diagnostic:
    file: str
    line: int
    column: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}: {self.message}"


def diagnostics(stderr: str) -> list[Diagnostic]:
    return [
        Diagnostic(m["file"], int(m["line"]), int(m["col"]), m["msg"])
        for m in map(_DIAG.match, stderr.splitlines())
        if m
    ]


def _inputs_digest(source: Path, kern: Path, defines: dict[str, str | int]) -> str:
    h = hashlib.sha256()
    h.update(source.read_bytes())
    for hdr in sorted(kern.rglob("*.h")):
        h.update(hdr.name.encode())
        h.update(hdr.read_bytes())
    h.update(repr(sorted(defines.items())).encode())
    h.update(str(vmlinux_h()).encode())
    return h.hexdigest()[:20]


def compile_host_library(source: str | os.PathLike[str], libs: tuple[str, ...] = (),
                         includes: tuple[Path, ...] = ()) -> Path:
    """Compile a C file of our own into a shared library for this machine (cached, by
    the file and the headers of ``includes``, the directories it includes from)."""
    src = Path(source)
    h = hashlib.sha256(src.read_bytes() + repr(libs).encode())
    for inc in includes:
        for hdr in sorted(inc.rglob("*.h")):
            h.update(str(hdr.relative_to(inc)).encode())
            h.update(hdr.read_bytes())
    digest = h.hexdigest()[:20]
    out = cache_dir() / "lib" / f"{src.stem}-{digest}.so"
    if out.exists():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(f".tmp{os.getpid()}.so")
    cmd = [tool("clang"), "-O2", "-g", "-Wall", "-shared", "-fPIC", "-pthread",
           *(f"-I{inc}" for inc in includes), str(src), "-o", str(tmp),
           *(f"-l{lib}" for lib in libs)]
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        tmp.unlink(missing_ok=True)
        shown = "\n".join(str(d) for d in diagnostics(res.stderr)[:10]) or res.stderr.strip()
        raise BuildError(f"clang could not compile {src}:\n{shown}")
    tmp.replace(out)
    return out


def compile_bpf(
    source: str | os.PathLike[str],
    defines: dict[str, str | int] | None = None,
    out: str | os.PathLike[str] | None = None,
) -> Path:
    """Compile one BPF C file; returns the object path (cached when ``out`` is None)."""
    src = Path(source)
    kern = kern_dir()
    defines = defines or {}
    if out is None:
        out = cache_dir() / "obj" / f"{src.stem}-{_inputs_digest(src, kern, defines)}.o"
        if Path(out).exists():
            return Path(out)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(f".tmp{os.getpid()}.o")
    cmd = [
        tool("clang"),
        *_CFLAGS,
        f"-D__TARGET_ARCH_{_arch_define()}",
        *(f"-D{k}={v}" for k, v in sorted(defines.items())),
        "-I", str(kern),
        "-I", str(vmlinux_h()),
        "-c", str(src),
        "-o", str(tmp),
    ]  # fmt: skip
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        tmp.unlink(missing_ok=True)
        diags = diagnostics(res.stderr)
        shown = "\n".join(str(d) for d in diags[:10]) or res.stderr.strip()[-2000:]
        raise BuildError(f"clang could not compile {src}:\n{shown}")
    tmp.replace(out)
    return out
