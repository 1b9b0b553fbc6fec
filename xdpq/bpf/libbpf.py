"""ctypes declarations for the system ``libbpf.so.1`` (1.1 or newer).

Only what xdpq uses is declared. Everything here is raw; the typed wrappers
live in :mod:`xdpq.bpf.object`, :mod:`xdpq.bpf.maps` and :mod:`xdpq.bpf.ringbuf`.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from ctypes import (
    CFUNCTYPE,
    POINTER,
    Structure,
    c_char_p,
    c_int,
    c_size_t,
    c_uint,
    c_uint32,
    c_uint64,
    c_void_p,
)
from functools import cache

from xdpq.errors import XdpqError

MIN_VERSION = (1, 1)

# enum libbpf_print_level
LIBBPF_WARN, LIBBPF_INFO, LIBBPF_DEBUG = 0, 1, 2

BPF_F_TEST_XDP_LIVE_FRAMES = 1 << 1
BPF_F_MMAPABLE = 1 << 10
BPF_ANY, BPF_NOEXIST, BPF_EXIST = 0, 1, 2

# enum btf kinds used to read global data sections, structs and enums
BTF_KIND_STRUCT = 4
BTF_KIND_ENUM = 6
BTF_KIND_DATASEC = 15

PRINT_FN = CFUNCTYPE(c_int, c_int, c_char_p, c_void_p)
RINGBUF_SAMPLE_FN = CFUNCTYPE(c_int, c_void_p, c_void_p, c_size_t)


class TestRunOpts(Structure):
    """``struct bpf_test_run_opts`` as of libbpf 1.1."""

    _fields_ = [
        ("sz", c_size_t),
        ("data_in", c_void_p),
        ("data_out", c_void_p),
        ("data_size_in", c_uint32),
        ("data_size_out", c_uint32),
        ("ctx_in", c_void_p),
        ("ctx_out", c_void_p),
        ("ctx_size_in", c_uint32),
        ("ctx_size_out", c_uint32),
        ("retval", c_uint32),
        ("repeat", c_int),
        ("duration", c_uint32),
        ("flags", c_uint32),
        ("cpu", c_uint32),
        ("batch_size", c_uint32),
    ]


class BtfType(Structure):
    """``struct btf_type``: the fixed head of every BTF type record."""

    _fields_ = [("name_off", c_uint32), ("info", c_uint32), ("size", c_uint32)]


class BtfVarSecinfo(Structure):
    _fields_ = [("type", c_uint32), ("offset", c_uint32), ("size", c_uint32)]


class BtfMember(Structure):
    """``struct btf_member``; ``offset`` is in bits (no bitfields in xdpq's structs)."""

    _fields_ = [("name_off", c_uint32), ("type", c_uint32), ("offset", c_uint32)]


class BtfEnum(Structure):
    _fields_ = [("name_off", c_uint32), ("val", ctypes.c_int32)]


class XdpMd(Structure):
    """``struct xdp_md``: the context passed to (and back from) an XDP ``BPF_PROG_RUN``."""

    _fields_ = [
        ("data", c_uint32),
        ("data_end", c_uint32),
        ("data_meta", c_uint32),
        ("ingress_ifindex", c_uint32),
        ("rx_queue_index", c_uint32),
        ("egress_ifindex", c_uint32),
    ]


_SIGNATURES: dict[str, tuple[object, list[object]]] = {
    "libbpf_major_version": (c_uint32, []),
    "libbpf_minor_version": (c_uint32, []),
    "libbpf_set_print": (c_void_p, [PRINT_FN]),
    "libbpf_num_possible_cpus": (c_int, []),
    "bpf_object__open_file": (c_void_p, [c_char_p, c_void_p]),
    "bpf_object__load": (c_int, [c_void_p]),
    "bpf_object__close": (None, [c_void_p]),
    "bpf_object__btf": (c_void_p, [c_void_p]),
    "bpf_object__next_program": (c_void_p, [c_void_p, c_void_p]),
    "bpf_object__next_map": (c_void_p, [c_void_p, c_void_p]),
    "bpf_program__name": (c_char_p, [c_void_p]),
    "bpf_program__fd": (c_int, [c_void_p]),
    "bpf_program__set_autoload": (c_int, [c_void_p, ctypes.c_bool]),
    "bpf_program__attach_xdp": (c_void_p, [c_void_p, c_int]),
    "bpf_program__attach": (c_void_p, [c_void_p]),
    "bpf_map__name": (c_char_p, [c_void_p]),
    "bpf_map__fd": (c_int, [c_void_p]),
    "bpf_map__type": (c_int, [c_void_p]),
    "bpf_map__map_flags": (c_uint32, [c_void_p]),
    "bpf_map__key_size": (c_uint32, [c_void_p]),
    "bpf_map__value_size": (c_uint32, [c_void_p]),
    "bpf_map__max_entries": (c_uint32, [c_void_p]),
    "bpf_map__set_max_entries": (c_int, [c_void_p, c_uint32]),
    "bpf_map__initial_value": (c_void_p, [c_void_p, POINTER(c_size_t)]),
    "bpf_map__reuse_fd": (c_int, [c_void_p, c_int]),
    "bpf_link__destroy": (c_int, [c_void_p]),
    "bpf_link__fd": (c_int, [c_void_p]),
    "bpf_link__pin": (c_int, [c_void_p, c_char_p]),
    "bpf_link__disconnect": (None, [c_void_p]),
    "bpf_map_lookup_elem": (c_int, [c_int, c_void_p, c_void_p]),
    "bpf_map_update_elem": (c_int, [c_int, c_void_p, c_void_p, c_uint64]),
    "bpf_map_delete_elem": (c_int, [c_int, c_void_p]),
    "bpf_map_get_next_key": (c_int, [c_int, c_void_p, c_void_p]),
    "bpf_map_lookup_and_delete_elem": (c_int, [c_int, c_void_p, c_void_p]),
    "bpf_map_lookup_batch": (
        c_int,
        [c_int, c_void_p, c_void_p, c_void_p, c_void_p, POINTER(c_uint32), c_void_p],
    ),
    "bpf_prog_test_run_opts": (c_int, [c_int, POINTER(TestRunOpts)]),
    "bpf_obj_pin": (c_int, [c_int, c_char_p]),
    "bpf_obj_get": (c_int, [c_char_p]),
    "btf__find_by_name_kind": (c_int, [c_void_p, c_char_p, c_uint]),
    "btf__type_by_id": (c_void_p, [c_void_p, c_uint32]),
    "btf__name_by_offset": (c_char_p, [c_void_p, c_uint32]),
    "btf__resolve_size": (ctypes.c_longlong, [c_void_p, c_uint32]),
    "ring_buffer__new": (c_void_p, [c_int, RINGBUF_SAMPLE_FN, c_void_p, c_void_p]),
    "ring_buffer__poll": (c_int, [c_void_p, c_int]),
    "ring_buffer__consume": (c_int, [c_void_p]),
    "ring_buffer__epoll_fd": (c_int, [c_void_p]),
    "ring_buffer__free": (None, [c_void_p]),
}


class LibbpfMissing(XdpqError):
    """The system libbpf is absent or too old."""


@cache
def lib() -> ctypes.CDLL:
    """The system libbpf, loaded once, with every used function typed."""
    name = ctypes.util.find_library("bpf") or "libbpf.so.1"
    try:
        so = ctypes.CDLL(name, use_errno=True)
    except OSError as exc:
        raise LibbpfMissing(
            f"cannot load libbpf ({exc}); install it: apt-get install libbpf1"
        ) from exc
    for fn, (restype, argtypes) in _SIGNATURES.items():
        f = getattr(so, fn)
        f.restype = restype
        f.argtypes = argtypes
    if version(so) < MIN_VERSION:
        raise LibbpfMissing(
            f"libbpf {'.'.join(map(str, version(so)))} is older than "
            f"{'.'.join(map(str, MIN_VERSION))}; install a newer libbpf1"
        )
    return so


def version(so: ctypes.CDLL | None = None) -> tuple[int, int]:
    so = so or lib()
    return (so.libbpf_major_version(), so.libbpf_minor_version())


@cache
def libc() -> ctypes.CDLL:
    c = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    c.vsnprintf.restype = c_int
    c.vsnprintf.argtypes = [c_char_p, c_size_t, c_char_p, c_void_p]
    return c


def possible_cpus() -> int:
    n = lib().libbpf_num_possible_cpus()
    if n <= 0:
        raise XdpqError(f"cannot count possible CPUs (error {n})")
    return n
