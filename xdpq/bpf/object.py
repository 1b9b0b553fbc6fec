"""A BPF object file: open, configure, load (with the verifier's reasons), close."""

from __future__ import annotations

import ctypes
import os
from pathlib import Path

from xdpq.bpf import libbpf, log, verifier
from xdpq.bpf.maps import Map, Section, Var
from xdpq.bpf.program import Program
from xdpq.errors import LoadError, XdpqError

_DATA_SECTIONS = (".bss", ".data", ".rodata", ".data.", ".rodata.")


class BpfObject:
    """One ``bpf_object``. Use as a context manager; ``close()`` frees everything."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        so = libbpf.lib()
        with log.capture() as msgs:
            h = so.bpf_object__open_file(str(self.path).encode(), None)
        if not h:
            err = ctypes.get_errno()
            detail = log.joined(msgs).strip() or os.strerror(err)
            raise LoadError(f"cannot open BPF object {self.path}: {detail}")
        self._h: int = h
        self.loaded = False
        # One Section per name: it owns the memory mapping of the kernel's
        # copy, which native code may point into while the object lives.
        self._sections: dict[str, Section] = {}
        self.programs: dict[str, Program] = {}
        p = so.bpf_object__next_program(h, None)
        while p:
            prog = Program(p)
            self.programs[prog.name] = prog
            p = so.bpf_object__next_program(h, p)
        self.maps: dict[str, Map] = {}
        m = so.bpf_object__next_map(h, None)
        while m:
            mp = Map(m)
            self.maps[mp.name] = mp
            m = so.bpf_object__next_map(h, m)

    # -- configuration before load -------------------------------------------------

    def section(self, name: str) -> Section:
        """A global data section by its ELF name, e.g. ``.bss`` or ``.data.sched``."""
        if name not in self._sections:
            mp = next((m for m in self.maps.values() if m.name.endswith(name)), None)
            if mp is None or not name.startswith(_DATA_SECTIONS):
                raise XdpqError(f"{self.path.name} has no data section '{name}'")
            self._sections[name] = Section(mp, self._datasec_vars(name))
        return self._sections[name]

    def _datasec_vars(self, name: str) -> dict[str, Var]:
        so = libbpf.lib()
        btf = so.bpf_object__btf(self._h)
        tid = so.btf__find_by_name_kind(btf, name.encode(), libbpf.BTF_KIND_DATASEC)
        if tid < 0:
            return {}
        t = libbpf.BtfType.from_address(so.btf__type_by_id(btf, tid))
        vlen = t.info & 0xFFFF
        base = so.btf__type_by_id(btf, tid) + ctypes.sizeof(libbpf.BtfType)
        out: dict[str, Var] = {}
        for i in range(vlen):
            si = libbpf.BtfVarSecinfo.from_address(base + i * ctypes.sizeof(libbpf.BtfVarSecinfo))
            var_t = libbpf.BtfType.from_address(so.btf__type_by_id(btf, si.type))
            out[so.btf__name_by_offset(btf, var_t.name_off).decode()] = Var(si.offset, si.size)
        return out

    def _btf_type(self, kind: int, what: str, name: str
                  ) -> tuple[int, libbpf.BtfType, int]:  # fmt: skip
        """The object's BTF, the named type, and the address of its first member."""
        btf = libbpf.lib().bpf_object__btf(self._h)
        tid = libbpf.lib().btf__find_by_name_kind(btf, name.encode(), kind)
        if tid < 0:
            raise XdpqError(f"{self.path.name} has no {what} '{name}' in its BTF")
        addr = libbpf.lib().btf__type_by_id(btf, tid)
        return btf, libbpf.BtfType.from_address(addr), addr + ctypes.sizeof(libbpf.BtfType)

    def enum(self, name: str) -> dict[str, int]:
        """The members of a C ``enum NAME`` as recorded in the object's BTF."""
        so = libbpf.lib()
        btf, t, base = self._btf_type(libbpf.BTF_KIND_ENUM, "enum", name)
        members = {}
        for i in range(t.info & 0xFFFF):
            e = libbpf.BtfEnum.from_address(base + i * ctypes.sizeof(libbpf.BtfEnum))
            members[so.btf__name_by_offset(btf, e.name_off).decode()] = e.val
        return members

    def struct(self, name: str) -> dict[str, Var]:
        """The members of a C ``struct NAME`` (byte offset and size), from the object's BTF."""
        so = libbpf.lib()
        btf, t, base = self._btf_type(libbpf.BTF_KIND_STRUCT, "struct", name)
        out = {}
        for i in range(t.info & 0xFFFF):
            m = libbpf.BtfMember.from_address(base + i * ctypes.sizeof(libbpf.BtfMember))
            size = so.btf__resolve_size(btf, m.type)
            out[so.btf__name_by_offset(btf, m.name_off).decode()] = Var(m.offset // 8, size)
        out[""] = Var(0, t.size)  # the whole struct
        return out

    # -- pins ----------------------------------------------------------------------

    @staticmethod
    def pin_name(map_name: str) -> str:
        """A map's file name in bpffs, which refuses dots in names (``.data.xq`` →
        ``_data_xq``)."""
        return map_name.replace(".", "_")

    def reuse_pinned_maps(self, directory: str | os.PathLike[str]) -> BpfObject:
        """Instead of loading: take every map from the pins under ``directory`` (another
        process's live object, each map pinned as :meth:`pin_name` says). Sections, maps
        and counters then read and write that object's kernel copies; programs stay
        unloaded."""
        so = libbpf.lib()
        for m in self.maps.values():
            path = Path(directory) / self.pin_name(m.name)
            fd = so.bpf_obj_get(str(path).encode())
            if fd < 0:
                err = ctypes.get_errno()
                raise LoadError(f"cannot open the pinned map {path}: {os.strerror(err)}")
            try:
                if so.bpf_map__reuse_fd(m._h, fd) != 0:
                    err = ctypes.get_errno()
                    raise LoadError(f"cannot use the pinned map {path}: {os.strerror(err)}")
            finally:
                os.close(fd)  # reuse_fd keeps a duplicate
        return self

    # -- load ----------------------------------------------------------------------

    def load(self) -> BpfObject:
        with log.capture() as msgs:
            rc = libbpf.lib().bpf_object__load(self._h)
        if rc != 0:
            raise _load_error(self.path, log.joined(msgs, libbpf.LIBBPF_DEBUG), rc)
        self.loaded = True
        return self

    def prog(self, name: str) -> Program:
        try:
            return self.programs[name]
        except KeyError:
            raise XdpqError(f"{self.path.name} has no program '{name}'") from None

    def map(self, name: str) -> Map:
        try:
            return self.maps[name]
        except KeyError:
            raise XdpqError(f"{self.path.name} has no map '{name}'") from None

    def close(self) -> None:
        for sec in self._sections.values():
            sec.unmap()
        self._sections.clear()
        if self._h:
            libbpf.lib().bpf_object__close(self._h)
            self._h = 0

    def __enter__(self) -> BpfObject:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def load(path: str | os.PathLike[str]) -> BpfObject:
    """Open and load in one step (no configuration in between)."""
    obj = BpfObject(path)
    try:
        return obj.load()
    except BaseException:
        obj.close()
        raise


def _load_error(path: Path, output: str, rc: int) -> LoadError:
    found = verifier.extract_log(output)
    if found is not None:
        prog, vlog = found
        return LoadError(f"{path.name}: {verifier.explain(prog, vlog).render()}", vlog)
    lines = [ln for ln in output.splitlines() if ln.strip()]
    detail = "\n  ".join(lines[-6:]) or os.strerror(-rc)
    return LoadError(f"cannot load {path.name}: {detail}", output)
