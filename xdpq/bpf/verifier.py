"""Turn a verifier log into the few lines a person needs.

The kernel's log for a rejected program is long: the state of every
register at every step. What matters is the verifier's reason (the last
lines before ``processed N insns``), the instruction it stopped at, and the
source line that instruction came from (the ``; code @ file:line``
annotations that ``-g`` produces; with ``#line`` directives in generated C
they point into the ``.xdpq`` program).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_BEGIN = "-- BEGIN PROG LOAD LOG --"
_END = "-- END PROG LOAD LOG --"
_INSN = re.compile(r"^(\d+): \([0-9a-f]{2}\) ")
_SOURCE = re.compile(r"^; (?P<code>.*?)(?: @ (?P<file>[^:]+):(?P<line>\d+))?$")
_STATS = re.compile(r"^(processed \d+ insns|verification time|stack depth|max_states)")
_PROG = re.compile(r"prog '([^']+)': -- BEGIN")


@dataclass(frozen=True, slots=True)
class Rejection:
    program: str
    reason: str
    instruction: str
    source: str
    location: str

    def render(self) -> str:
        out = [f"the verifier rejected program '{self.program}': {self.reason}"]
        if self.location or self.source:
            where = f"{self.location}: " if self.location else ""
            out.append(f"  at {where}{self.source}")
        if self.instruction:
            out.append(f"  instruction {self.instruction}")
        return "\n".join(out)


def extract_log(libbpf_output: str) -> tuple[str, str] | None:
    """The program name and verifier log embedded in libbpf's messages, if any."""
    start = libbpf_output.find(_BEGIN)
    if start < 0:
        return None
    m = _PROG.search(libbpf_output[: start + len(_BEGIN)])
    end = libbpf_output.find(_END, start)
    body = libbpf_output[start + len(_BEGIN) : end if end >= 0 else None]
    return (m.group(1) if m else "?"), body.strip("\n")


def explain(program: str, log: str) -> Rejection:
    lines = [ln.rstrip() for ln in log.splitlines() if ln.strip()]
    stop = next((i for i, ln in enumerate(lines) if _STATS.match(ln)), len(lines))
    body = lines[:stop]
    # The reason: trailing lines after the last instruction or state dump.
    reason_lines: list[str] = []
    for ln in reversed(body):
        if _INSN.match(ln) or ln.startswith(";") or re.match(r"^\d+: R\d", ln):
            break
        reason_lines.append(ln)
    reason_lines.reverse()
    last_insn = ""
    source = location = ""
    for ln in body:
        if _INSN.match(ln):
            last_insn = ln
        elif (m := _SOURCE.match(ln)) and m.group("code").strip():
            # Annotations with no code (line 0: compiler-made instructions)
            # say nothing; keep the last one that names real source.
            source = m.group("code").strip()
            location = f"{m.group('file')}:{m.group('line')}" if m.group("file") else ""
    reason = "; ".join(reason_lines) or (body[-1] if body else "no log")
    return Rejection(program, reason, last_insn, source, location)
