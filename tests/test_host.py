"""What the host must give xdpq (xdpq/net/host.py): ``xdpq doctor`` and ``xdpq deploy``
ask for the same capabilities and look for the BPF file system in the same place, so a
machine the doctor passes is one deploy accepts, and one it fails, deploy refuses.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_doctor import check_lines
from verbs import STFQ, Cli, refused

from conftest import REPO
from xdpq.errors import XdpqError
from xdpq.net import host
from xdpq.runtime import service

ALL = ("CAP_NET_ADMIN", "CAP_BPF", "CAP_PERFMON")


def test_capabilities_from_proc_status() -> None:
    status = "Name:\tx\nCapInh:\t0000000000000000\nCapEff:\t000001ffffffffff\n"
    assert host.effective_capabilities(status) == 0x1FFFFFFFFFF
    assert host.missing_capabilities(0) == list(ALL)
    net, bpf, perfmon = (1 << host.CAP_NET_ADMIN, 1 << host.CAP_BPF, 1 << host.CAP_PERFMON)
    assert host.missing_capabilities(bpf | perfmon) == ["CAP_NET_ADMIN"]
    assert host.missing_capabilities(net | perfmon) == ["CAP_BPF"]
    assert host.missing_capabilities(net | bpf) == ["CAP_PERFMON"]
    assert host.missing_capabilities(net | bpf | perfmon) == []
    # CAP_SYS_ADMIN stands in for CAP_BPF and CAP_PERFMON, not for CAP_NET_ADMIN.
    sys_admin = 1 << host.CAP_SYS_ADMIN
    assert host.missing_capabilities(sys_admin | net) == []
    assert host.missing_capabilities(sys_admin) == ["CAP_NET_ADMIN"]
    with pytest.raises(XdpqError):
        host.effective_capabilities("Name:\tx\n")


def test_the_bpffs_check_honours_the_pin_root(monkeypatch: pytest.MonkeyPatch) -> None:
    from xdpq import doctor

    elsewhere = Path(tempfile.gettempdir()) / "xdpq-not-bpffs"
    monkeypatch.setenv("XDPQ_PIN_DIR", str(elsewhere))
    problem = host.bpffs_problem(elsewhere)
    assert problem is not None and f"no BPF file system holds {elsewhere}" in problem
    result = doctor.check_bpffs(doctor.Env())
    assert (result.ok, result.detail, result.remedy) == (False, problem, host.BPFFS_REMEDY)
    with pytest.raises(XdpqError) as refusal:
        service.check_bpffs()
    assert str(refusal.value) == f"{problem}: {host.BPFFS_REMEDY}"


# -- the verbs as a user runs them -----------------------------------------------------------


def _as(prefix: list[str], cli: Cli, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*prefix, *cli.argv(*args)], env=cli.env, capture_output=True,
                          text=True, timeout=300, cwd=REPO)


def _without(*caps: str) -> list[str]:
    """setpriv arguments: run as root with ``caps`` dropped (bounding and inheritable)."""
    drop = ",".join(f"-{c.removeprefix('CAP_').lower()}" for c in caps)
    return ["setpriv", f"--inh-caps={drop}", f"--bounding-set={drop}"]


def _doctor_missing(r: subprocess.CompletedProcess[str]) -> list[str]:
    mark, detail = check_lines(r.stdout)["privileges"]
    assert mark == "✗" and r.returncode == 1, r.stdout + r.stderr
    m = re.fullmatch(r"missing (.+) \(CapEff [0-9a-f]{16}\)", detail)
    assert m is not None, detail
    return m[1].split(", ")


def _deploy_missing(r: subprocess.CompletedProcess[str]) -> list[str]:
    msg = refused(r, "not allowed", "run it as root")
    m = re.search(r"lacks (.+?): run it as root", msg)
    assert m is not None, msg
    return m[1].split(", ")


@pytest.mark.kernel
@pytest.mark.parametrize(("dropped", "missing"), [
    (("CAP_PERFMON", "CAP_SYS_ADMIN"), ["CAP_PERFMON"]),  # SYS_ADMIN would stand in for it
    (("CAP_BPF", "CAP_SYS_ADMIN"), ["CAP_BPF"]),
    (("CAP_NET_ADMIN",), ["CAP_NET_ADMIN"]),
    (("CAP_NET_ADMIN", "CAP_BPF", "CAP_PERFMON", "CAP_SYS_ADMIN"), list(ALL)),
])
def test_doctor_and_deploy_agree_on_what_is_missing(
        cli: Cli, dropped: tuple[str, ...], missing: list[str]) -> None:
    prefix = _without(*dropped)
    assert _doctor_missing(_as(prefix, cli, "doctor")) == missing
    deploy = _as(prefix, cli, "deploy", STFQ, "--in", "in0", "--out", "out0")
    assert _deploy_missing(deploy) == missing
    assert cli.records() == []


@pytest.fixture
def bpffs() -> Iterator[Path]:
    """A BPF file system of the test's own, mounted on a fresh directory; unmounted
    (lazily, if busy) and removed afterwards."""
    d = Path(tempfile.mkdtemp(prefix="xdpq-bpffs-"))
    try:
        subprocess.run(["mount", "-t", "bpf", "bpf", str(d)], check=True)
        yield d
    finally:
        subprocess.run(["umount", "-l", str(d)], capture_output=True)
        d.rmdir()


@pytest.mark.kernel
def test_doctor_and_deploy_look_for_bpffs_where_xdpq_pin_dir_says(
        cli: Cli, bpffs: Path) -> None:
    plain = Path(tempfile.mkdtemp(prefix="xdpq-plain-"))
    try:
        cli.env["XDPQ_PIN_DIR"] = str(plain / "xdpq")
        r = _as([], cli, "doctor")
        mark, detail = check_lines(r.stdout)["bpffs"]
        assert (mark, r.returncode) == ("✗", 1), r.stdout
        assert f"no BPF file system holds {plain / 'xdpq'}" in detail
        refused(_as([], cli, "deploy", STFQ, "--in", "in0", "--out", "out0"),
                f"no BPF file system holds {plain / 'xdpq'}", "mount -t bpf", "XDPQ_PIN_DIR")
    finally:
        plain.rmdir()
    cli.env["XDPQ_PIN_DIR"] = str(bpffs / "xdpq")
    r = _as([], cli, "doctor")
    assert check_lines(r.stdout)["bpffs"] == (
        "✓", f"{bpffs / 'xdpq'} is on the BPF file system mounted at {bpffs}"), r.stdout
    # Past the bpffs check, deploy stops at the next one: the interface is not there.
    refused(_as([], cli, "deploy", STFQ, "--in", "nope0", "--out", "nope1"),
            "interface 'nope0' does not exist")
    assert not (bpffs / "xdpq").exists() and cli.records() == []


@pytest.fixture
def twin_namespaces() -> Iterator[list[str]]:
    """Two pairs of fresh namespaces, D0/R0 and D1/R1, each D with a veth whose peer
    lives in its R: both D's veths get ifindex 2 and both peers 3. R1 sorts first."""
    tag = f"xqtwin{os.getpid()}"
    names = [f"{tag}-d0", f"{tag}-b-r0", f"{tag}-d1", f"{tag}-a-r1"]
    try:
        for name in names:
            subprocess.run(["ip", "netns", "add", name], check=True)
        for d, r in ((names[0], names[1]), (names[2], names[3])):
            subprocess.run(["ip", "-n", d, "link", "add", "out0", "type", "veth", "peer",
                            "name", "r0", "netns", r], check=True)
        yield names
    finally:
        for name in names:
            subprocess.run(["ip", "netns", "del", name], capture_output=True)


@pytest.mark.kernel
def test_a_veths_peer_is_found_in_its_own_namespace_when_another_has_the_same_indexes(
        twin_namespaces: list[str]) -> None:
    """An ifindex is unique only within its namespace: the peer is told apart by the id
    the veth's namespace knows the peer's by, not found in the first namespace whose
    link points at the same index."""
    d0, r0, d1, r1 = twin_namespaces
    for d, r in ((d0, r0), (d1, r1)):
        with host.in_netns(d):
            (ifindex,) = [i for i in socket.if_nameindex() if i[1] == "out0"]
            assert host.veth_peer(ifindex[0]) == ("r0", r)
