"""``xdpq down NAME``: stop a deployment and remove everything it made."""

from __future__ import annotations

import argparse
import os
import signal
import time

from xdpq.commands import emit, json_options
from xdpq.errors import XdpqError
from xdpq.runtime import registry

EPILOG = """\
examples:
  sudo xdpq down edge

The deploying process detaches the ingress program, lets the transmitter drain what is
queued, flushes the rest (counted as drop_shutdown), and removes its pins and state.
A deployment whose process is gone (killed) left no program attached, only its records:
down removes those.
"""

STOP_TIMEOUT_S = 20.0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "down",
        help="stop a deployment: detach, drain, remove its pins and state",
        description="Stop a deployment (background or foreground) and leave nothing behind.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("name", help="the deployment (see xdpq list)")
    p.add_argument("--timeout", type=float, default=STOP_TIMEOUT_S, metavar="S",
                   help=f"seconds to wait for a clean stop before SIGKILL "
                        f"(default {STOP_TIMEOUT_S:.0f})")
    json_options(p)  # {name, down: true, how}
    p.set_defaults(func=run)


def _wait_gone(st: registry.State, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while st.alive():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def run(args: argparse.Namespace) -> int:
    name = registry.check_name(args.name)
    if not registry.leftovers(name):
        registry.load(name)  # raises: no such deployment (and names the running ones)
    try:
        st: registry.State | None = registry.load(name)
    except XdpqError:
        st = None  # damaged or half-made records: remove them below
    how = "its records were removed (its process was gone)"
    if st is not None and st.alive():
        os.kill(st.pid, signal.SIGTERM)
        if _wait_gone(st, args.timeout):
            how = f"stopped process {st.pid}: detached from {st.ingress}, drained"
        else:
            os.kill(st.pid, signal.SIGKILL)
            _wait_gone(st, 5.0)
            how = (f"process {st.pid} did not stop within {args.timeout:.0f} s and was "
                   "killed (its bpf_links went with it)")
    elif st is None:
        pid_dir = registry.state_dir(name)
        if pid_dir.is_dir() and any(pid_dir.iterdir()):
            how = "its incomplete records were removed"
    registry.remove(name)
    left = registry.leftovers(name)
    if left:
        raise XdpqError(f"'{name}': could not remove {', '.join(left)}: remove by hand")
    if args.json:
        emit(args, {"name": name, "down": True, "how": how})
    else:
        print(f"{name}: down; {how}; nothing left")
    return 0
