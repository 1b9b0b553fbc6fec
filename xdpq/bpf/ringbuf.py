"""A BPF ring buffer consumer with a pollable fd."""

from __future__ import annotations

import ctypes
from collections.abc import Callable

from xdpq.bpf import libbpf
from xdpq.bpf.maps import Map
from xdpq.errors import BpfError


class RingBuffer:
    """Consume records of a ``BPF_MAP_TYPE_RINGBUF``; ``fd`` is an epoll fd to wait on."""

    def __init__(self, map_: Map, on_record: Callable[[bytes], None]) -> None:
        def sample(_ctx: int, data: int, size: int) -> int:
            on_record(ctypes.string_at(data, size))
            return 0

        self._cb = libbpf.RINGBUF_SAMPLE_FN(sample)
        self._h = libbpf.lib().ring_buffer__new(map_.fd, self._cb, None, None)
        if not self._h:
            raise BpfError(f"ring buffer on map '{map_.name}'", ctypes.get_errno())

    @property
    def fd(self) -> int:
        return libbpf.lib().ring_buffer__epoll_fd(self._h)

    def poll(self, timeout_ms: int) -> int:
        """Wait up to ``timeout_ms`` for records and consume them; returns how many."""
        n = libbpf.lib().ring_buffer__poll(self._h, timeout_ms)
        if n < 0 and n != -4:  # -EINTR: a signal; the caller decides what to do
            raise BpfError("ring buffer poll", -n)
        return max(n, 0)

    def consume(self) -> int:
        n = libbpf.lib().ring_buffer__consume(self._h)
        if n < 0:
            raise BpfError("ring buffer consume", -n)
        return n

    def close(self) -> None:
        if self._h:
            libbpf.lib().ring_buffer__free(self._h)
            self._h = 0

    def __enter__(self) -> RingBuffer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
