"""``xdpq doctor``: check this machine for everything the datapath needs."""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

from xdpq import doctor
from xdpq.commands import emit, json_options

EPILOG = """\
examples:
  sudo xdpq doctor                 one line per check, ✓ or ✗ with a remedy
  sudo xdpq doctor --json | jq -r '.[] | select(.ok | not) | .name'

The exit status is 0 when every required check passed, 1 otherwise.
"""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "doctor",
        help="check this machine for every kernel feature xdpq needs",
        description=doctor.__doc__,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    json_options(p)  # a list of {name, ok, detail, remedy, required}
    p.set_defaults(func=run)


def _marks() -> tuple[str, str]:
    """✓/✗ where the terminal can show them, else OK/FAIL."""
    try:
        "✓✗→".encode(sys.stdout.encoding or "ascii")
    except (UnicodeEncodeError, LookupError):
        return "OK  ", "FAIL"
    return "✓", "✗"


def render(results: list[doctor.CheckResult]) -> str:
    """The report as plain text: one line per check, the remedy indented under a failure."""
    good, bad = _marks()
    arrow = "→" if good == "✓" else "->"
    width = max(len(r.name) for r in results)
    pad = " " * (len(good) + 1 + width + 2)  # continuation lines start under the detail
    lines = []
    for r in results:
        detail = r.detail.splitlines() or [""]
        optional = "" if r.required else " (optional)"
        lines.append(f"{good if r.ok else bad} {r.name:<{width}}  {detail[0]}"
                     + (optional if not r.ok else ""))
        lines += [pad + more for more in detail[1:]]
        if not r.ok and r.remedy:
            lines.append(f"{pad}{arrow} {r.remedy}")
    failing = [r.name for r in results if r.required and not r.ok]
    lines.append("")
    lines.append("ready: this machine can run the xdpq datapath" if not failing
                 else f"not ready: {len(failing)} required check(s) failed")
    return "\n".join(lines)


def _print(text: str) -> None:
    """Print, replacing what the terminal's encoding cannot show rather than failing."""
    enc = sys.stdout.encoding or "ascii"
    print(text.encode(enc, "replace").decode(enc, "replace"))


@contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM/SIGHUP unwind like Ctrl-C, so the doctor's veth pair is still removed."""
    def handler(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def run(args: argparse.Namespace) -> int:
    try:
        with _terminate_as_interrupt():
            results = doctor.run_checks()
    except KeyboardInterrupt:
        print("xdpq doctor: interrupted (what it set up was removed)", file=sys.stderr)
        return 130
    except Exception as exc:  # run_checks catches per check; this is a last line of defence
        print(f"xdpq doctor: internal error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    if args.json:
        emit(args, doctor.as_json(results))
    else:
        _print(render(results))
    return 0 if doctor.healthy(results) else 1
