"""``xdpq doctor``: every check on this machine, without privileges, and its clean-up.

The tests marked ``kernel`` run the real command as root (and as an
unprivileged process); the others check the reporting logic with fake checks.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from collections.abc import Callable

import pytest

from conftest import REPO
from xdpq import doctor
from xdpq.commands import doctor as doctor_cmd
from xdpq.errors import XdpqError
from xdpq.net.testbed import PREFIX, ROLES

CHECK_LINE = re.compile(r"^(✓|✗) (.+?)\s{2,}(.*)$")
OUR_LINK = re.compile(rf"^{doctor.VETH_PREFIX}\d+[ab]$")
BED_NETNS = re.compile(rf"^{PREFIX}[0-9a-f]{{6}}-({'|'.join(ROLES)})$")
# Drop every capability across exec; with --reuid also become nobody.
NO_CAPS = ["setpriv", "--inh-caps=-all", "--bounding-set=-all"]
NOBODY = [*NO_CAPS, "--reuid=65534", "--regid=65534", "--clear-groups"]


def xdpq(*args: str, prefix: list[str] | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LC_ALL": "C.UTF-8", "PYTHONIOENCODING": "utf-8"}
    return subprocess.run(
        [*(prefix or []), sys.executable, "-m", "xdpq.cli", *args],
        cwd=REPO, capture_output=True, text=True, timeout=300, env=env,
    )


def check_lines(stdout: str) -> dict[str, tuple[str, str]]:
    """name -> (mark, detail) for every check line of the text report."""
    return {m[2]: (m[1], m[3]) for m in map(CHECK_LINE.match, stdout.splitlines()) if m}


def doctor_links() -> list[str]:
    from pyroute2 import IPRoute

    with IPRoute() as ip:
        names = [link.get_attr("IFLA_IFNAME") for link in ip.get_links()]
    return [n for n in names if OUR_LINK.match(n or "")]


def netns_names() -> set[str]:
    """The machine's named network namespaces, but for test beds (which other tests,
    run meanwhile, make and remove)."""
    from pyroute2 import netns

    return {n for n in netns.listnetns() if not BED_NETNS.match(n)}


# -- on this machine (root, BTF) ---------------------------------------------------------------


@pytest.mark.kernel
def test_every_check_passes_as_root() -> None:
    netns_before = netns_names()
    res = xdpq("doctor")
    assert res.returncode == 0, res.stdout + res.stderr
    lines = check_lines(res.stdout)
    assert list(lines) == [spec.name for spec in doctor.CHECKS], res.stdout
    assert all(mark == "✓" for mark, _ in lines.values()), res.stdout
    assert "ready: this machine can run the xdpq datapath" in res.stdout
    assert "64 of 64 frames" in lines["live-frame redirect"][1]
    assert doctor_links() == []
    assert netns_names() == netns_before


@pytest.mark.kernel
def test_json_lists_every_check_as_ok() -> None:
    res = xdpq("doctor", "--json")
    assert res.returncode == 0, res.stdout + res.stderr
    checks = json.loads(res.stdout)
    assert [c["name"] for c in checks] == [spec.name for spec in doctor.CHECKS]
    for c in checks:
        assert set(c) == {"name", "ok", "detail", "remedy", "required"}
        assert c["ok"] is True, c
    features = next(c for c in checks if c["name"] == "xdp-features")["detail"]
    assert all(f in features for f in ("basic", "redirect", "ndo_xmit"))
    assert doctor_links() == []


def _unprivileged_prefix(who: str) -> list[str]:
    """setpriv arguments for ``who``. Becoming nobody needs the interpreter and the checkout
    readable by nobody; where they are not (a checkout under /root), uid 0 with every
    capability dropped is used: the doctor sees the same empty CapEff either way, and the
    test asserts that it did."""
    if who == "nobody":
        probe = subprocess.run([*NOBODY, sys.executable, "-c", "import xdpq.doctor"],
                               cwd="/", capture_output=True)
        if probe.returncode == 0:
            return NOBODY
    return NO_CAPS


@pytest.mark.kernel
@pytest.mark.parametrize("who", ["nobody", "root-without-capabilities"])
def test_without_privileges_says_what_is_missing_and_how_to_fix_it(who: str) -> None:
    netns_before = netns_names()
    res = xdpq("doctor", prefix=_unprivileged_prefix(who))
    out = res.stdout + res.stderr
    assert res.returncode == 1, out
    assert "Traceback" not in out
    lines = check_lines(res.stdout)
    assert list(lines) == [spec.name for spec in doctor.CHECKS], out
    mark, detail = lines["privileges"]
    assert mark == "✗"
    assert detail.startswith(
        "missing CAP_NET_ADMIN, CAP_BPF, CAP_PERFMON (CapEff 0000000000000000)"), out
    assert re.search(r"^\s+→ run as root \(sudo xdpq doctor\)", res.stdout, re.M), out
    for spec in doctor.CHECKS:
        if spec.needs:
            optional = "" if spec.required else " (optional)"
            assert lines[spec.name] == ("✗", f"not checked: needs privileges{optional}"), \
                (spec.name, out)
    for name in ("kernel", "BTF", "clang", "libbpf", "bpftool"):
        assert lines[name][0] == "✓", (name, out)
    assert "not ready" in res.stdout
    assert doctor_links() == []
    assert netns_names() == netns_before


@pytest.mark.kernel
def test_without_privileges_json_marks_privileges_failed() -> None:
    res = xdpq("doctor", "--json", prefix=NO_CAPS)
    assert res.returncode == 1, res.stdout + res.stderr
    checks = {c["name"]: c for c in json.loads(res.stdout)}
    assert checks["privileges"]["ok"] is False
    assert checks["privileges"]["remedy"].startswith("run as root")
    assert checks["live-frame redirect"]["detail"] == "not checked: needs privileges"


def _spec(name: str, run: Callable[[doctor.Env], doctor.CheckResult],
          needs: tuple[str, ...] = ()) -> doctor.CheckSpec:
    return doctor.CheckSpec(name, run, needs)


def _by_name(name: str) -> doctor.CheckSpec:
    return next(s for s in doctor.CHECKS if s.name == name)


@pytest.mark.kernel
def test_veth_pair_is_removed_when_a_later_check_raises() -> None:
    seen: list[list[str]] = []

    def explode(env: doctor.Env) -> doctor.CheckResult:
        seen.append(doctor_links())
        raise RuntimeError("boom")

    results = doctor.run_checks((_by_name("XDP on veth"), _spec("explodes", explode)))
    assert results[0].ok, results[0]
    assert sorted(seen[0]) == sorted(doctor.veth_names(os.getpid()))
    assert results[1] == doctor.CheckResult(
        "explodes", False, "unexpected RuntimeError: boom",
        "please report this with the output of `xdpq doctor --json`")
    assert doctor_links() == []


@pytest.mark.kernel
def test_veth_pair_is_removed_on_interrupt() -> None:
    def interrupt(env: doctor.Env) -> doctor.CheckResult:
        assert doctor_links()
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        doctor.run_checks((_by_name("XDP on veth"), _spec("interrupted", interrupt)))
    assert doctor_links() == []


@pytest.mark.kernel
def test_redirect_and_features_fail_when_the_peer_has_no_xdp_program() -> None:
    """The veth checks can fail: without an XDP program on the peer, the egress veth
    loses ndo_xmit and redirected frames never arrive."""

    def detach(env: doctor.Env) -> doctor.CheckResult:
        env.need_veth_path().link.destroy()
        return doctor.passed("detach", "counter detached from the peer")

    results = doctor.run_checks((
        _by_name("XDP on veth"), _spec("detach", detach),
        _by_name("xdp-features"), _by_name("live-frame redirect"),
    ))
    by = {r.name: r for r in results}
    assert not by["xdp-features"].ok and "missing ndo_xmit" in by["xdp-features"].detail
    assert not by["live-frame redirect"].ok
    assert by["live-frame redirect"].detail.startswith("0 of 64 frames")
    assert by["live-frame redirect"].remedy
    assert doctor_links() == []


@pytest.mark.kernel
def test_a_pair_left_by_a_killed_doctor_is_removed() -> None:
    from pyroute2 import IPRoute

    dead = subprocess.run(["sh", "-c", "echo $$"], capture_output=True, text=True)
    pid = int(dead.stdout)
    a, b = doctor.veth_names(pid)
    with IPRoute() as ip:
        ip.link("add", ifname=a, kind="veth", peer=b)
    try:
        with doctor.veth_pair() as veth:
            assert sorted(doctor_links()) == sorted((veth.name, veth.peer))
    finally:
        with IPRoute() as ip:
            for idx in ip.link_lookup(ifname=a):
                ip.link("del", index=idx)
    assert doctor_links() == []


# -- the reporting logic, with fake checks (no privileges needed) -------------------------------


def test_feature_names_and_versions() -> None:
    assert doctor.feature_names(doctor.XdpFeature(103)) == (
        "basic, redirect, ndo_xmit, rx_sg, ndo_xmit_sg")
    assert doctor.feature_names(doctor.XdpFeature(0)) == "none"
    assert doctor.version_tuple("6.18.44-fc-v782") == (6, 18)
    assert doctor.version_tuple("5.15.0") < doctor.MIN_KERNEL


def test_a_failed_check_blocks_what_needs_it_naming_the_real_cause() -> None:
    ran: list[str] = []

    def ok(env: doctor.Env) -> doctor.CheckResult:
        ran.append("ok")
        return doctor.passed("ok", "fine")

    def bad(env: doctor.Env) -> doctor.CheckResult:
        return doctor.failed("bad", "broken", "fix it")

    def never(env: doctor.Env) -> doctor.CheckResult:
        raise AssertionError("a blocked check must not run")

    results = doctor.run_checks((
        _spec("ok", ok), _spec("bad", bad), _spec("child", never, ("ok", "bad")),
        _spec("grandchild", never, ("child",)), _spec("sibling", ok, ("ok",)),
    ))
    by = {r.name: r for r in results}
    assert by["bad"] == doctor.CheckResult("bad", False, "broken", "fix it")
    assert by["child"].detail == "not checked: needs bad"
    assert by["grandchild"].detail == "not checked: needs bad"
    assert not by["child"].ok and by["child"].remedy == "fix bad first"
    assert by["sibling"].ok and ran == ["ok", "ok"]


def test_errors_inside_a_check_become_its_line() -> None:
    def xdpq_error(env: doctor.Env) -> doctor.CheckResult:
        raise XdpqError("the kernel said no\nsecond line\nthird\nfourth")

    def bug(env: doctor.Env) -> doctor.CheckResult:
        raise KeyError("oops")

    spec = doctor.CheckSpec("feature", xdpq_error, remedy="upgrade")
    results = doctor.run_checks((spec, _spec("bug", bug)))
    assert results[0] == doctor.CheckResult(
        "feature", False, "the kernel said no\nsecond line\nthird", "upgrade")
    assert not results[1].ok and results[1].detail == "unexpected KeyError: 'oops'"


def test_render_and_exit_status(monkeypatch: pytest.MonkeyPatch,
                                capsys: pytest.CaptureFixture[str]) -> None:
    good = doctor.CheckResult("kernel", True, "Linux 6.18")
    optional = doctor.CheckResult("bpffs", False, "not mounted", "mount -t bpf bpf /sys/fs/bpf",
                                  required=False)
    missing = doctor.CheckResult("privileges", False, "missing CAP_BPF", "run as root")
    args = argparse.Namespace(json=False)

    monkeypatch.setattr(doctor, "run_checks", lambda: [good, optional])
    assert doctor_cmd.run(args) == 0
    out = capsys.readouterr().out
    assert "✓ kernel" in out and "✗ bpffs" in out and "(optional)" in out
    assert "→ mount -t bpf bpf /sys/fs/bpf" in out
    assert out.rstrip().endswith("ready: this machine can run the xdpq datapath")

    monkeypatch.setattr(doctor, "run_checks", lambda: [good, missing])
    assert doctor_cmd.run(args) == 1
    out = capsys.readouterr().out
    assert "✗ privileges  missing CAP_BPF" in out and "→ run as root" in out
    assert "not ready: 1 required check(s) failed" in out

    assert doctor_cmd.run(argparse.Namespace(json=True)) == 1
    assert json.loads(capsys.readouterr().out)[1] == {
        "name": "privileges", "ok": False, "detail": "missing CAP_BPF",
        "remedy": "run as root", "required": True}


def test_internal_errors_never_show_a_traceback(monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    def broken() -> list[doctor.CheckResult]:
        raise RuntimeError("unforeseen")

    monkeypatch.setattr(doctor, "run_checks", broken)
    assert doctor_cmd.run(argparse.Namespace(json=False)) == 2
    err = capsys.readouterr().err
    assert "internal error: RuntimeError: unforeseen" in err and "Traceback" not in err


def test_help_has_an_example() -> None:
    res = xdpq("doctor", "--help")
    assert res.returncode == 0
    assert "sudo xdpq doctor --json" in res.stdout and "exit status" in res.stdout


def test_sigterm_unwinds_like_ctrl_c() -> None:
    import signal

    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt), doctor_cmd._terminate_as_interrupt():
        os.kill(os.getpid(), signal.SIGTERM)
    assert signal.getsignal(signal.SIGTERM) is before


def test_ascii_terminal_gets_ok_and_fail(monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    monkeypatch.setattr(sys, "stdout", io.TextIOWrapper(io.BytesIO(), encoding="ascii"))
    text = doctor_cmd.render([doctor.CheckResult("kernel", True, "Linux"),
                              doctor.CheckResult("BTF", False, "missing", "boot another")])
    assert text.splitlines()[:3] == ["OK   kernel  Linux", "FAIL BTF     missing",
                                     " " * 13 + "-> boot another"]
