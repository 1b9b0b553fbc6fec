"""Typed access to BPF maps and global data sections."""

from __future__ import annotations

import ctypes
import mmap
import struct
import sys
from collections.abc import Iterator
from dataclasses import dataclass

from xdpq.bpf import libbpf
from xdpq.errors import BpfError, XdpqError

BPF_MAP_TYPE_PERCPU_HASH = 5
BPF_MAP_TYPE_PERCPU_ARRAY = 6
BPF_MAP_TYPE_LRU_PERCPU_HASH = 10
BPF_MAP_TYPE_QUEUE = 22
BPF_MAP_TYPE_STACK = 23
_PERCPU = {BPF_MAP_TYPE_PERCPU_HASH, BPF_MAP_TYPE_PERCPU_ARRAY, BPF_MAP_TYPE_LRU_PERCPU_HASH}
_KEYLESS = {BPF_MAP_TYPE_QUEUE, BPF_MAP_TYPE_STACK}


def _errno() -> int:
    return ctypes.get_errno()


class Map:
    """A BPF map of a loaded (or opened) object. Keys and values are bytes."""

    def __init__(self, handle: int) -> None:
        self._h = handle
        so = libbpf.lib()
        self.name: str = so.bpf_map__name(handle).decode()
        self.type: int = so.bpf_map__type(handle)

    @property
    def fd(self) -> int:
        fd = libbpf.lib().bpf_map__fd(self._h)
        if fd < 0:
            raise XdpqError(f"map '{self.name}' is not loaded")
        return fd

    @property
    def key_size(self) -> int:
        return libbpf.lib().bpf_map__key_size(self._h)

    @property
    def value_size(self) -> int:
        return libbpf.lib().bpf_map__value_size(self._h)

    @property
    def max_entries(self) -> int:
        return libbpf.lib().bpf_map__max_entries(self._h)

    def set_max_entries(self, n: int) -> None:
        if libbpf.lib().bpf_map__set_max_entries(self._h, n) != 0:
            raise XdpqError(f"cannot resize map '{self.name}' after the object was loaded")

    @property
    def percpu(self) -> bool:
        return self.type in _PERCPU

    def _value_buf(self) -> ctypes.Array[ctypes.c_char]:
        size = self.value_size
        if self.percpu:
            size = ((size + 7) & ~7) * libbpf.possible_cpus()
        return ctypes.create_string_buffer(size)

    def lookup(self, key: bytes | None) -> bytes | None:
        """The value under ``key``; ``None`` when absent. For queue/stack maps: peek."""
        buf = self._value_buf()
        if libbpf.lib().bpf_map_lookup_elem(self.fd, key, buf) != 0:
            err = _errno()
            if err == 2:  # ENOENT
                return None
            raise BpfError(f"lookup in map '{self.name}'", err)
        return buf.raw

    def lookup_percpu(self, key: bytes) -> list[bytes]:
        """One value per possible CPU, for the per-CPU map types."""
        raw = self.lookup(key)
        if raw is None:
            return []
        step = (self.value_size + 7) & ~7
        return [raw[i : i + self.value_size] for i in range(0, len(raw), step)]

    def update(self, key: bytes | None, value: bytes, flags: int = libbpf.BPF_ANY) -> None:
        if libbpf.lib().bpf_map_update_elem(self.fd, key, value, flags) != 0:
            raise BpfError(f"update of map '{self.name}'", _errno())

    def push(self, value: bytes) -> None:
        """Push onto a queue or stack map."""
        self.update(None, value)

    def pop(self) -> bytes | None:
        buf = self._value_buf()
        if libbpf.lib().bpf_map_lookup_and_delete_elem(self.fd, None, buf) != 0:
            err = _errno()
            if err == 2:
                return None
            raise BpfError(f"pop from map '{self.name}'", err)
        return buf.raw

    def delete(self, key: bytes) -> bool:
        if libbpf.lib().bpf_map_delete_elem(self.fd, key) != 0:
            err = _errno()
            if err == 2:
                return False
            raise BpfError(f"delete from map '{self.name}'", err)
        return True

    def keys(self) -> Iterator[bytes]:
        if self.type in _KEYLESS:
            return
        key = ctypes.create_string_buffer(self.key_size)
        nxt = ctypes.create_string_buffer(self.key_size)
        prev = None
        while libbpf.lib().bpf_map_get_next_key(self.fd, prev, nxt) == 0:
            yield nxt.raw
            ctypes.memmove(key, nxt, self.key_size)
            prev = key

    def items(self) -> Iterator[tuple[bytes, bytes]]:
        for k in self.keys():
            v = self.lookup(k)
            if v is not None:
                yield k, v

    def pin(self, path: str) -> None:
        if libbpf.lib().bpf_obj_pin(self.fd, path.encode()) != 0:
            raise BpfError(f"pin map '{self.name}' at {path}", _errno())

    def mapped(self) -> mmap.mmap:
        """A read-only view of a ``BPF_F_MMAPABLE`` array map's values."""
        size = self.value_size * self.max_entries
        size = (size + mmap.PAGESIZE - 1) & ~(mmap.PAGESIZE - 1)
        return mmap.mmap(self.fd, size, mmap.MAP_SHARED, mmap.PROT_READ)


def u32(n: int) -> bytes:
    return struct.pack("=I", n)


def u64(n: int) -> bytes:
    return struct.pack("=Q", n)


@dataclass(frozen=True, slots=True)
class Var:
    offset: int
    size: int


class Section:
    """A global data section (``.bss``, ``.data``, ``.rodata``, ``.data.NAME``).

    Variables are found by name through the object's BTF. Before load, writes
    go to the initial image; after load, reads and writes go to the kernel's
    copy: through a shared mapping where the map is mmapable (``.rodata`` is
    frozen: read-only), else through lookup/update of its single element
    (sections holding a ``bpf_spin_lock`` cannot be mapped).
    """

    def __init__(self, map_: Map, variables: dict[str, Var]) -> None:
        self.map = map_
        self.vars = variables
        self._mapping: mmap.mmap | None = None
        self._unmappable = False

    def _live(self) -> mmap.mmap | None:
        """The kernel's copy, memory-mapped (libbpf 1.1 does not remap it on load)."""
        if self._mapping is None and not self._unmappable and self._live_mapped():
            writable = not self.map.name.endswith(".rodata")
            prot = mmap.PROT_READ | (mmap.PROT_WRITE if writable else 0)
            size = (self.map.value_size + mmap.PAGESIZE - 1) & ~(mmap.PAGESIZE - 1)
            try:
                self._mapping = mmap.mmap(self.map.fd, size, mmap.MAP_SHARED, prot)
            except OSError:  # holds a spin lock or timer: the kernel refuses a mapping
                self._unmappable = True
        return self._mapping

    def _image(self) -> tuple[int, int]:
        size = ctypes.c_size_t()
        ptr = libbpf.lib().bpf_map__initial_value(self.map._h, ctypes.byref(size))
        if not ptr:
            raise XdpqError(f"section '{self.map.name}' has no data image")
        return ptr, size.value

    def _live_mapped(self) -> bool:
        return bool(libbpf.lib().bpf_map__map_flags(self.map._h) & libbpf.BPF_F_MMAPABLE)

    def _loaded(self) -> bool:
        return libbpf.lib().bpf_map__fd(self.map._h) >= 0

    def var(self, name: str) -> Var:
        try:
            return self.vars[name]
        except KeyError:
            raise XdpqError(f"no variable '{name}' in section '{self.map.name}'") from None

    def read(self, name: str) -> bytes:
        v = self.var(name)
        if not self._loaded():
            ptr, _ = self._image()
            return ctypes.string_at(ptr + v.offset, v.size)
        if (live := self._live()) is not None:
            return live[v.offset : v.offset + v.size]
        whole = self.map.lookup(u32(0))
        assert whole is not None
        return whole[v.offset : v.offset + v.size]

    def write(self, name: str, data: bytes) -> None:
        v = self.var(name)
        if len(data) != v.size:
            raise XdpqError(f"'{name}' holds {v.size} bytes, got {len(data)}")
        if not self._loaded():
            ptr, _ = self._image()
            ctypes.memmove(ptr + v.offset, data, v.size)
            return
        if (live := self._live()) is not None:
            live[v.offset : v.offset + v.size] = data
            return
        whole = bytearray(self.map.lookup(u32(0)) or b"")
        whole[v.offset : v.offset + v.size] = data
        self.map.update(u32(0), bytes(whole))

    def snapshot(self) -> bytes:
        """The whole section at once (one lookup for sections that cannot be mapped)."""
        if not self._loaded():
            ptr, size = self._image()
            return ctypes.string_at(ptr, size)
        if (live := self._live()) is not None:
            return bytes(live[: self.map.value_size])
        return self.map.lookup(u32(0)) or b""

    def unmap(self) -> None:
        if self._mapping is not None:
            self._mapping.close()
            self._mapping = None

    def address(self, name: str) -> int:
        """Address of a variable in the kernel's copy, for native code to share."""
        live = self._live()
        if live is None:
            raise XdpqError(f"section '{self.map.name}' is not memory-mapped")
        return ctypes.addressof(ctypes.c_char.from_buffer(live)) + self.var(name).offset

    def __getitem__(self, name: str) -> int:
        return int.from_bytes(self.read(name), sys.byteorder)

    def __setitem__(self, name: str, value: int) -> None:
        size = self.var(name).size
        self.write(name, (value & ((1 << (8 * size)) - 1)).to_bytes(size, sys.byteorder))
