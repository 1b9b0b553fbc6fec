"""The test bed's hosts as users run them: ``ping`` and ``iperf3`` in their namespaces.

    with iperf_server(bed):
        report = iperf(bed, seconds=5, streams=4, congestion="cubic")
    rtts = ping_rtts(bed, count=100, interval=0.05)

The sender's namespace runs the clients, the receiver's the server; each
command is the real binary (``./run`` installs iputils-ping and iperf3).
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from xdpq.errors import XdpqError
from xdpq.net.testbed import RECEIVER, SENDER, TestBed

IPERF_PORT = 5201
_RTT = re.compile(r"time=([0-9.]+) ms")


def in_ns(bed: TestBed, role: str, *argv: str, timeout: float = 30
          ) -> subprocess.CompletedProcess[str]:
    """``argv`` in one of the bed's namespaces, to the end."""
    return subprocess.run(["ip", "netns", "exec", bed.ns[role], *argv], capture_output=True,
                          text=True, timeout=timeout)


def ping(bed: TestBed, count: int = 3, interval: float = 0.2, wait_s: float = 2
         ) -> subprocess.CompletedProcess[str]:
    """``ping`` from the sender to the receiver."""
    return in_ns(bed, SENDER, "ping", "-c", str(count), "-i", str(interval), "-W", str(wait_s),
                 bed.ports["r0"].ip, timeout=count * interval + wait_s + 30)


def start_ping(bed: TestBed, count: int, interval: float) -> subprocess.Popen[str]:
    """``ping`` from the sender to the receiver, running; :func:`rtts` reads its output."""
    return subprocess.Popen(["ip", "netns", "exec", bed.ns[SENDER], "ping", "-n", "-c",
                             str(count), "-i", str(interval), "-W", "2", bed.ports["r0"].ip],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def rtts(proc: subprocess.Popen[str], timeout: float) -> tuple[list[float], int]:
    """The round-trip times (ms) a ping reported, and how many it sent."""
    out, _ = proc.communicate(timeout=timeout)
    m = re.search(r"(\d+) packets transmitted", out)
    return [float(t) for t in _RTT.findall(out)], int(m.group(1)) if m else 0


@contextmanager
def iperf_server(bed: TestBed, port: int = IPERF_PORT) -> Iterator[subprocess.Popen[str]]:
    """``iperf3 -s`` for one test in the receiver's namespace, listening when yielded."""
    p = subprocess.Popen(["ip", "netns", "exec", bed.ns[RECEIVER], "iperf3", "-s", "-1", "-J",
                          "-B", bed.ports["r0"].ip, "-p", str(port)],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 10
        while str(port) not in in_ns(bed, RECEIVER, "ss", "-ltnH").stdout:
            if p.poll() is not None or time.monotonic() > deadline:
                raise XdpqError(f"iperf3 -s did not listen: {p.stderr.read() if p.stderr else ''}")
            time.sleep(0.05)
        yield p
    finally:
        if p.poll() is None:
            p.terminate()
        p.wait(10)


def iperf(bed: TestBed, seconds: float, streams: int = 1, congestion: str | None = None,
          port: int = IPERF_PORT) -> dict[str, Any]:
    """An iperf3 TCP test from the sender to the receiver (a server must listen): its
    JSON report. ``congestion``: the TCP congestion control of the streams (``-C``)."""
    return iperf_report(start_iperf(bed, seconds, streams, congestion, port), seconds)


def start_iperf(bed: TestBed, seconds: float, streams: int = 1, congestion: str | None = None,
                port: int = IPERF_PORT, interval: float | None = None
                ) -> subprocess.Popen[str]:
    """:func:`iperf`, running; :func:`iperf_report` waits for its report. ``interval``:
    report every so many seconds (``-i``), with the server's own report in it (its
    ``server_output_json``, which reports every second)."""
    argv = ["iperf3", "-c", bed.ports["r0"].ip, "-p", str(port), "-t", str(seconds), "-J",
            "-P", str(streams), *(["-C", congestion] if congestion else []),
            *(["-i", str(interval), "--get-server-output"] if interval else [])]
    return subprocess.Popen(["ip", "netns", "exec", bed.ns[SENDER], *argv],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def iperf_report(proc: subprocess.Popen[str], seconds: float) -> dict[str, Any]:
    """The JSON report of an iperf3 client that :func:`start_iperf` started."""
    out, err = proc.communicate(timeout=seconds + 60)
    try:
        report = json.loads(out)
    except json.JSONDecodeError:
        raise XdpqError(f"iperf3 said nothing useful: {out}{err}") from None
    if "error" in report:
        raise XdpqError(f"iperf3: {report['error']}")
    return report


def goodput_bps(report: dict[str, Any]) -> float:
    """What the receiver of an iperf3 test got, in bits per second of payload."""
    return float(report["end"]["sum_received"]["bits_per_second"])
