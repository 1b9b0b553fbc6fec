"""The project's exception types.

Every error a user can cause derives from :class:`XdpqError`, carries enough
context to be shown without a traceback, and, where it comes from a source
file, a :class:`Span` pointing at the offending text.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Span:
    """A region of a source file: 1-based line and column, end exclusive."""

    file: str
    line: int
    column: int
    end_line: int
    end_column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


def source_lines(source: str) -> list[str]:
    """Lines as the parser counts them: split at line feeds only (not at form feeds
    or the other breaks of ``str.splitlines``); a final line feed ends the last line."""
    return source.removesuffix("\n").split("\n")


def render_caret(source: str, span: Span) -> str:
    """The source line of ``span`` with a caret line under the offending text."""
    lines = source_lines(source)
    if not 1 <= span.line <= len(lines):
        return ""
    text = lines[span.line - 1].removesuffix("\r").expandtabs(1)
    width = max(1, (span.end_column - span.column) if span.end_line == span.line else 1)
    width = min(width, max(1, len(text) - span.column + 1))
    return f"{text}\n{' ' * (span.column - 1)}{'^' * width}"


def _render(severity: str, message: str, span: Span, source: str, hint: str) -> str:
    """``file:line:col: severity: message``, the line with a caret under ``span``, a hint."""
    out = [f"{span}: {severity}: {message}"]
    caret = render_caret(source, span) if source else ""
    if caret:
        out.append(caret)
    if hint:
        out.append(f"hint: {hint}")
    return "\n".join(out)


class XdpqError(Exception):
    """Base of every error xdpq reports to a user; ``str()`` is the full message."""


class SourceError(XdpqError):
    """A mistake in a scheduler program, positioned in its source."""

    def __init__(self, message: str, span: Span, source: str = "", hint: str = "") -> None:
        self.message = message
        self.span = span
        self.source = source
        self.hint = hint
        super().__init__(self.render())

    def render(self) -> str:
        return _render("error", self.message, self.span, self.source, self.hint)


@dataclass(frozen=True, slots=True)
class SourceWarning:
    """Something valid but suspicious in a program (it checks, and means what it says
    rather than what it seems to), positioned like a SourceError."""

    message: str
    span: Span
    source: str = ""
    hint: str = ""

    def render(self) -> str:
        return _render("warning", self.message, self.span, self.source, self.hint)


class BuildError(XdpqError):
    """clang could not compile a BPF object."""


class LoadError(XdpqError):
    """libbpf or the verifier refused an object; the message holds the lines that matter."""

    def __init__(self, message: str, log: str = "") -> None:
        self.log = log
        super().__init__(message)


class BpfError(XdpqError):
    """A BPF system call failed (map access, program run, attach)."""

    def __init__(self, what: str, errno: int) -> None:
        import os

        self.errno = errno
        super().__init__(f"{what}: {os.strerror(errno)} (errno {errno})")
