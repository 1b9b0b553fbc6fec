"""Faults of a deployment (issue 8.4), with the real command line on the veth bed.

- SIGKILL of a foreground ``xdpq deploy``: nothing stays attached (neither
  XDP on an interface nor a tracepoint), the maps stay pinned with what was
  queued, and the same deploy again resumes them: every queued packet is sent.
- ``--detach``: its process killed with packets queued, then (the timer
  lives on in the kernel) staged with BQL bytes in flight and nobody to send
  them; a second deploy resumes it, and not a packet is lost or duplicated.
- The egress set down or deleted while the deployment runs: it stops, names
  the interface, exits 1 (foreground) or records it (detached), and
  ``xdpq stats`` still reads its last counters.
- A second deploy on interfaces in use is refused and changes nothing.
- A full state file system, a read-only BPF file system: a clear error and
  nothing attached, pinned or recorded.

Everything a test made (bed, processes, records, pins, mounts) is removed by
fixtures and ``finally``, also when it fails.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from pyroute2 import NetNS
from verbs import Cli, deploy_args, refused, wait_for, xdp_attached

from xdpq.bpf import BpfObject, xdp_ctx
from xdpq.bpf.program import PinnedProgram
from xdpq.ir.link import BqlMode
from xdpq.net.receiver import Receiver
from xdpq.net.testbed import DUT, TestBed
from xdpq.net.trafficgen import Flow, TrafficGen
from xdpq.runtime.registry import process_start

pytestmark = pytest.mark.kernel


@pytest.fixture
def scratch() -> Iterator[Path]:
    """A directory to mount on; unmounted (lazily, if busy) and removed afterwards."""
    d = Path(tempfile.mkdtemp(prefix="xdpq-fault-"))
    try:
        yield d
    finally:
        subprocess.run(["umount", "-l", str(d)], capture_output=True)
        d.rmdir()


def xdp_links(bed: TestBed) -> dict[str, object]:
    """Interfaces of the DUT namespace with an XDP program, from ``ip -j link``."""
    out = subprocess.run(
        ["ip", "-n", bed.ns[DUT], "-j", "-d", "link", "show"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return {link["ifname"]: link["xdp"] for link in json.loads(out) if "xdp" in link}


def pinned_prog_ids(pins: Path) -> set[int]:
    ids = set()
    for p in pins.glob("prog_*"):
        out = subprocess.run(
            ["bpftool", "-j", "prog", "show", "pinned", str(p)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        ids.add(json.loads(out)["id"])
    return ids


def linked_prog_ids() -> set[int]:
    out = subprocess.run(
        ["bpftool", "-j", "link", "show"], capture_output=True, text=True, check=True
    ).stdout
    return {link["prog_id"] for link in json.loads(out)}


def banner(p: subprocess.Popen[str]) -> str:
    assert p.stdout is not None
    line = p.stdout.readline()
    assert "runs stfq on in0 → out0" in line, line + (p.stderr.read() if p.stderr else "")
    return line


def sigkill(pid: int) -> None:
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: process_start(pid) is None)


# -- the deploying process killed ------------------------------------------------------------


def test_sigkill_of_a_foreground_deploy_leaves_nothing_attached_and_deploy_resumes(
    cli: Cli, bed: TestBed
) -> None:
    with Receiver(bed) as rcv, TrafficGen(bed, [Flow(size=300, sport=7)]) as gen:
        p = cli.popen(*deploy_args(bed, "--name", "fg", "--bql", "fixed:0"))  # held
        banner(p)
        pins = cli.pin_dir / "fg"
        ours = pinned_prog_ids(pins)
        assert set(xdp_links(bed)) == {"in0"}
        assert ours & linked_prog_ids()  # ingress and tracepoints, through bpf_links
        assert gen.send(1000) == 1000
        wait_for(lambda: cli.stats("fg")["backlog"] == 1000)
        p.kill()
        p.wait(10)
        # The kernel released every bpf_link with the process: no XDP on either
        # interface, no tracepoint; only the pins (maps, programs) and the records.
        wait_for(lambda: not xdp_links(bed), 5)
        assert not ours & linked_prog_ids()
        assert (cli.pin_dir / "fg" / "xdpq_slots").exists()
        listed = json.loads(cli.ok("list", "--json"))[0]
        assert (listed["running"], listed["stopped"]) == (False, None)
        assert rcv.received == 0

        # The same deploy again (what systemd's Restart= does) resumes the maps.
        p = cli.popen(*deploy_args(bed, "--name", "fg"))
        line = banner(p)
        assert "with 1000 packets queued and 0 staged" in line
        assert rcv.wait(1000)
        s = cli.stats("fg")
        assert s["in"]["packets"] == s["enqueued"]["packets"] == 1000
        assert s["out"]["packets"] == 1000 == rcv.received
        assert sum(v["packets"] for v in s["drops"].values()) == 0
        p.send_signal(signal.SIGTERM)
        out, err = p.communicate(timeout=30)
        assert p.returncode == 0, err
        assert "1000 packets sent, 0 dropped" in out
    assert cli.records() == []
    assert not xdp_links(bed)


def test_detached_deploy_killed_with_packets_queued_and_staged_resumes_without_loss(
    cli: Cli, bed: TestBed
) -> None:
    n = 1000  # one flow's 1 MB: within stfq's flow_limit (1 MiB), so none is dropped
    with Receiver(bed) as rcv, TrafficGen(bed, [Flow(size=1000, sport=9)]) as gen:
        cli.ok(*deploy_args(bed, "--detach", "--name", "d", "--bql", "fixed:0"))
        pid = json.loads(cli.ok("list", "--json"))[0]["pid"]
        assert gen.send(n) == n
        wait_for(lambda: cli.stats("d")["backlog"] == n)
        sigkill(pid)
        wait_for(lambda: not xdp_attached(bed), 5)
        # The process is gone, its scheduler timer lives on with the pinned maps: let it
        # stage up to a 30000-byte limit with nobody to transmit, so that the resumed
        # deployment finds packets both queued and staged (and BQL bytes in flight).
        obj = BpfObject(cli.run_dir / "d" / "scheduler.o").reuse_pinned_maps(cli.pin_dir / "d")
        try:
            bss = obj.section(".bss")
            obj.section(".data")["xdpq_bql_limit"] = 30000
            bss["xdpq_bql_mode"] = int(BqlMode.FIXED)
            with PinnedProgram(str(cli.pin_dir / "d" / "prog_xdpq_release")) as release:
                release.run(bytes(64), ctx=xdp_ctx(64))
            wait_for(lambda: bss["xdpq_staged"] == 30)
        finally:
            obj.close()

        out = cli.ok(*deploy_args(bed, "--detach", "--name", "d", "--bql", "adaptive"))
        assert f"resumed from process {pid} with {n - 30} packets queued and 30 staged" in out
        assert rcv.wait(n)
        wait_for(lambda: cli.stats("d")["staged"] == 0)
        s = cli.stats("d")
        assert s["enqueued"]["packets"] == n == s["out"]["packets"]
        assert sum(v["packets"] for v in s["drops"].values()) == 0
        assert s["slots"]["in_use"] == 0
        assert s["bql"]["inflight"] >= 0  # the dead process's in-flight bytes were retired
        seqs = [a.seq for a in rcv.arrivals()]
        assert len(seqs) == n == len(set(seqs))  # each once: none lost, none twice
        assert "nothing left" in cli.ok("down", "d")
    assert cli.records() == []


# -- the egress goes away ----------------------------------------------------------------------


def _break_egress(bed: TestBed, how: str) -> None:
    with NetNS(bed.ns[DUT]) as ns:
        idx = ns.link_lookup(ifname="out0")[0]
        if how == "down":
            ns.link("set", index=idx, state="down")
        else:
            ns.link("del", index=idx)


@pytest.mark.parametrize(("how", "detached"), [("down", False), ("deleted", True)])
def test_egress_lost_mid_run_stops_with_a_message_and_stats_keep_the_counters(
    cli: Cli, bed: TestBed, how: str, detached: bool
) -> None:
    with Receiver(bed) as rcv, TrafficGen(bed, [Flow(size=200)]) as gen:
        args = deploy_args(bed, "--name", "e", *(["--detach"] if detached else []))
        if detached:
            cli.ok(*args)
        else:
            p = cli.popen(*args)
            banner(p)
        assert gen.send(500) == 500
        assert rcv.wait(500)
        _break_egress(bed, how)
        said = "out0 (--out) went down" if how == "down" else "out0 (--out) was deleted"
        if detached:
            wait_for(lambda: not json.loads(cli.ok("list", "--json"))[0]["running"])
            assert said in (cli.run_dir / "e" / "log").read_text()
        else:
            _, err = p.communicate(timeout=30)
            assert p.returncode == 1
            assert said in err and "xdpq stats e" in err and "Traceback" not in err
        assert not xdp_attached(bed)
        assert not (cli.pin_dir / "e").exists()
        listed = json.loads(cli.ok("list", "--json"))[0]
        assert said in listed["stopped"]["fault"]
        s = cli.stats("e")
        assert said in s["stopped"]["fault"]
        assert s["in"]["packets"] == s["enqueued"]["packets"] == 500
        assert s["out"]["packets"] == 500 and s["backlog"] == s["staged"] == 0
        assert s["slots"]["in_use"] == 0
        assert "STOPPED" in cli.ok("stats", "e")
        assert 'xdpq_up{deployment="e"} 0' in cli.ok("stats", "e", "--prometheus")
        refused(cli("stats", "e", "--watch"), "stopped", said)
        assert "removed" in cli.ok("down", "e")
    assert cli.records() == []


# -- refusals that change nothing ----------------------------------------------------------------


def test_a_second_deploy_on_interfaces_in_use_is_refused_and_changes_nothing(
    cli: Cli, bed: TestBed
) -> None:
    with Receiver(bed) as rcv, TrafficGen(bed, [Flow(size=200)]) as gen:
        p = cli.popen(*deploy_args(bed, "--name", "a"))
        banner(p)
        before, attached = sorted(cli.records()), xdp_links(bed)
        # (Its exact reverse, each direction its own program, is not refused: test_wire.py.)
        r = cli(*deploy_args(bed, "--name", "b", "--both"))
        refused(r, "in use by xdpq deployment 'a'", "xdpq down a")
        refused(cli(*deploy_args(bed, "--name", "b", "--replace")), "in use by xdpq deployment 'a'")
        assert sorted(cli.records()) == before and xdp_links(bed) == attached
        assert gen.send(300) == 300 and rcv.wait(300)  # and 'a' still forwards
        p.send_signal(signal.SIGTERM)
        assert p.wait(30) == 0
    assert cli.records() == []


def test_a_full_state_file_system_is_a_clear_error(cli: Cli, bed: TestBed, scratch: Path) -> None:
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(scratch)], check=True)
    (scratch / "run").mkdir()
    subprocess.run(
        ["dd", "if=/dev/zero", f"of={scratch / 'fill'}", "bs=4k"], capture_output=True
    )  # until the file system is full
    cli.env["XDPQ_RUN_DIR"] = str(scratch / "run")
    with Receiver(bed):
        for detach in ([], ["--detach"]):
            msg = refused(
                cli(*deploy_args(bed, "--name", "full", *detach)),
                "No space left on device",
                "is full",
                "XDPQ_RUN_DIR",
            )
            assert str(scratch / "run" / "full") in msg
            assert not xdp_attached(bed)
            assert not (scratch / "run").exists()  # its root too: nothing is left
            assert not (cli.pin_dir / "full").exists()


def test_a_read_only_bpf_file_system_is_a_clear_error(
    cli: Cli, bed: TestBed, scratch: Path
) -> None:
    subprocess.run(["mount", "-t", "bpf", "-o", "ro", "bpf", str(scratch)], check=True)
    cli.env["XDPQ_PIN_DIR"] = str(scratch / "xdpq")
    with Receiver(bed):
        msg = refused(
            cli(*deploy_args(bed, "--name", "ro")),
            "Read-only file system",
            "remount it read-write",
            "XDPQ_PIN_DIR",
        )
        assert str(scratch / "xdpq") in msg
        assert not xdp_attached(bed)
        assert cli.records() == []
