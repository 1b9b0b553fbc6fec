"""Capture of libbpf's own messages.

libbpf reports through one process-wide print callback. We install a single
callback once and route each message to the innermost active
:func:`capture` on the calling thread, so that an open or load can show the
messages (and the verifier log) that belong to it.
"""

from __future__ import annotations

import ctypes
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from xdpq.bpf import libbpf

_sinks = threading.local()


def _on_print(level: int, fmt: bytes, args: int) -> int:
    stack = getattr(_sinks, "stack", None)
    if not stack:
        return 0
    buf = ctypes.create_string_buffer(1 << 18)
    n = libbpf.libc().vsnprintf(buf, len(buf), fmt, args)
    text = buf.raw[: max(0, min(n, len(buf) - 1))].decode(errors="replace")
    if n >= len(buf):
        text += "…\n"
    stack[-1].append((level, text))
    return 0


_CALLBACK = libbpf.PRINT_FN(_on_print)


@contextmanager
def capture() -> Iterator[list[tuple[int, str]]]:
    """Collect libbpf's messages printed by this thread inside the block."""
    libbpf.lib().libbpf_set_print(_CALLBACK)
    stack = getattr(_sinks, "stack", None)
    if stack is None:
        stack = _sinks.stack = []
    messages: list[tuple[int, str]] = []
    stack.append(messages)
    try:
        yield messages
    finally:
        stack.pop()


def joined(messages: list[tuple[int, str]], max_level: int = libbpf.LIBBPF_INFO) -> str:
    return "".join(text for level, text in messages if level <= max_level)
