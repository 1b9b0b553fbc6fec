"""A loaded BPF program: ``BPF_PROG_RUN`` and XDP attachment."""

from __future__ import annotations

import ctypes
import os
from dataclasses import dataclass

from xdpq.bpf import libbpf
from xdpq.errors import BpfError, XdpqError

XDP_ABORTED, XDP_DROP, XDP_PASS, XDP_TX, XDP_REDIRECT = range(5)
XDP_ACTIONS = ("XDP_ABORTED", "XDP_DROP", "XDP_PASS", "XDP_TX", "XDP_REDIRECT")

# Largest frame BPF_PROG_RUN gives back: the page the kernel builds it in.
_DATA_OUT_MAX = 4096


@dataclass(frozen=True, slots=True)
class RunResult:
    retval: int
    data: bytes
    duration_ns: int
    ctx: bytes = b""


class Link:
    """A ``bpf_link``: detaches when destroyed, or when its last fd closes."""

    def __init__(self, handle: int, what: str) -> None:
        self._h = handle
        self.what = what

    @property
    def fd(self) -> int:
        return libbpf.lib().bpf_link__fd(self._h)

    def pin(self, path: str) -> None:
        if libbpf.lib().bpf_link__pin(self._h, path.encode()) != 0:
            raise BpfError(f"pin {self.what} at {path}", ctypes.get_errno())

    def destroy(self) -> None:
        if self._h:
            libbpf.lib().bpf_link__destroy(self._h)
            self._h = 0

    def __enter__(self) -> Link:
        return self

    def __exit__(self, *exc: object) -> None:
        self.destroy()


class Program:
    def __init__(self, handle: int) -> None:
        self._h = handle
        self.name: str = libbpf.lib().bpf_program__name(handle).decode()

    @property
    def fd(self) -> int:
        fd = libbpf.lib().bpf_program__fd(self._h)
        if fd < 0:
            raise XdpqError(f"program '{self.name}' is not loaded")
        return fd

    def set_autoload(self, on: bool) -> None:
        libbpf.lib().bpf_program__set_autoload(self._h, on)

    def run(
        self,
        data: bytes = b"",
        *,
        ctx: bytes | None = None,
        repeat: int = 1,
        data_out: bool = True,
    ) -> RunResult:
        """One ``BPF_PROG_RUN`` (``repeat`` times) on a copy of ``data``."""
        opts = libbpf.TestRunOpts(sz=ctypes.sizeof(libbpf.TestRunOpts), repeat=repeat)
        din = ctypes.create_string_buffer(data, len(data)) if data else None
        if din is not None:
            opts.data_in = ctypes.addressof(din)
            opts.data_size_in = len(data)
        dout = ctypes.create_string_buffer(max(_DATA_OUT_MAX, len(data) + 256))
        if data_out and data:
            opts.data_out = ctypes.addressof(dout)
            opts.data_size_out = len(dout)
        cin = ctypes.create_string_buffer(ctx, len(ctx)) if ctx else None
        cout = ctypes.create_string_buffer(len(ctx)) if ctx else None
        if cin is not None and cout is not None:
            opts.ctx_in = ctypes.addressof(cin)
            opts.ctx_size_in = len(ctx or b"")
            opts.ctx_out = ctypes.addressof(cout)
            opts.ctx_size_out = len(cout)
        if libbpf.lib().bpf_prog_test_run_opts(self.fd, ctypes.byref(opts)) != 0:
            raise BpfError(f"BPF_PROG_RUN of '{self.name}'", ctypes.get_errno())
        out = dout.raw[: opts.data_size_out] if data_out and data else b""
        ctx_out = cout.raw[: opts.ctx_size_out] if cout is not None else b""
        return RunResult(opts.retval, out, opts.duration, ctx_out)

    def run_live(
        self, frame: bytes, *, repeat: int, batch_size: int = 0, ctx: bytes | None = None
    ) -> int:
        """Run in live-frames mode: ``XDP_TX``/``XDP_REDIRECT`` really transmit.

        Each run starts with the frame's original length, but not its original
        bytes: pages are recycled within a call, so a run may see what earlier
        runs (or the receiving device) wrote. Programs rewrite what they need.
        Returns the kernel's average duration per run in nanoseconds.
        """
        opts = libbpf.TestRunOpts(
            sz=ctypes.sizeof(libbpf.TestRunOpts),
            repeat=repeat,
            flags=libbpf.BPF_F_TEST_XDP_LIVE_FRAMES,
            batch_size=batch_size,
        )
        din = ctypes.create_string_buffer(frame, len(frame))
        opts.data_in = ctypes.addressof(din)
        opts.data_size_in = len(frame)
        cin = ctypes.create_string_buffer(ctx, len(ctx)) if ctx else None
        if cin is not None:
            opts.ctx_in = ctypes.addressof(cin)
            opts.ctx_size_in = len(ctx or b"")
        if libbpf.lib().bpf_prog_test_run_opts(self.fd, ctypes.byref(opts)) != 0:
            raise BpfError(f"live BPF_PROG_RUN of '{self.name}'", ctypes.get_errno())
        return opts.duration

    def attach_xdp(self, ifindex: int) -> Link:
        """Attach to an interface through a bpf_link (gone when the process dies)."""
        h = libbpf.lib().bpf_program__attach_xdp(self._h, ifindex)
        if not h:
            raise BpfError(
                f"attach XDP program '{self.name}' to ifindex {ifindex}", ctypes.get_errno()
            )
        return Link(h, f"XDP program '{self.name}' on ifindex {ifindex}")

    def attach(self) -> Link:
        """Attach where the program's section says (tracepoints, raw tracepoints)."""
        h = libbpf.lib().bpf_program__attach(self._h)
        if not h:
            raise BpfError(f"attach program '{self.name}'", ctypes.get_errno())
        return Link(h, f"program '{self.name}'")

    def pin(self, path: str) -> None:
        if libbpf.lib().bpf_obj_pin(self.fd, path.encode()) != 0:
            raise BpfError(f"pin program '{self.name}' at {path}", ctypes.get_errno())


class PinnedProgram(Program):
    """A program another process loaded and pinned in bpffs, opened by its path: it can
    be run (``BPF_PROG_RUN``), not attached."""

    def __init__(self, path: str) -> None:
        self._h = 0
        self.name = path.rsplit("/", 1)[-1]
        self._fd = libbpf.lib().bpf_obj_get(path.encode())
        if self._fd < 0:
            raise BpfError(f"open the pinned program {path}", ctypes.get_errno())

    @property
    def fd(self) -> int:
        if self._fd < 0:
            raise XdpqError(f"program '{self.name}' is closed")
        return self._fd

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> PinnedProgram:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def xdp_ctx(size: int, ifindex: int = 0, rx_queue: int = 0) -> bytes:
    """An ``xdp_md`` context for ``BPF_PROG_RUN`` of a ``size``-byte frame."""
    md = libbpf.XdpMd(data=0, data_end=size, ingress_ifindex=ifindex, rx_queue_index=rx_queue)
    return bytes(md)
