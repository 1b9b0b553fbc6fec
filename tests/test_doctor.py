"""``xdpq doctor`` on this machine, with and without privileges."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import REPO

from xdpq import doctor

pytestmark = pytest.mark.kernel


def xdpq(*args: str, drop_caps: bool = False) -> subprocess.CompletedProcess[str]:
    # Dropping every capability while staying uid 0 keeps the checkout and the
    # virtual environment readable, and leaves the process unprivileged for BPF.
    prefix = ["setpriv", "--inh-caps=-all", "--bounding-set=-all", "--"] if drop_caps else []
    return subprocess.run(
        [*prefix, sys.executable, "-m", "xdpq.cli", *args],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )


def leftover_links() -> str:
    return subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout


def test_every_check_passes_here() -> None:
    res = xdpq("doctor")
    assert res.returncode == 0, res.stdout + res.stderr
    lines = [ln for ln in res.stdout.splitlines() if ln[:1] in "✓✗!"]
    assert len(lines) == len(doctor.BASICS) + len(doctor.PROBE_CHECKS) + len(doctor.VETH_CHECKS)
    assert all(ln.startswith("✓") for ln in lines), res.stdout
    assert res.stdout.rstrip().endswith("ready")
    assert "xqdoc" not in leftover_links()


def test_json_lists_every_check() -> None:
    res = xdpq("doctor", "--json")
    checks = json.loads(res.stdout)
    names = {c["name"] for c in checks}
    assert {"bpf_timer in XDP", "bpf_rbtree", "live-frame redirect", "xdp-features"} <= names
    assert all(c["ok"] for c in checks)
    features = next(c for c in checks if c["name"] == "xdp-features")["detail"]
    assert all(f in features for f in ("basic", "redirect", "ndo_xmit"))


def test_without_privileges_says_what_is_missing_and_how_to_fix_it() -> None:
    res = xdpq("doctor", drop_caps=True)
    assert res.returncode == 1
    assert "✗ privileges" in res.stdout
    assert "missing CAP_BPF, CAP_NET_ADMIN" in res.stdout
    assert "→ run as root" in res.stdout
    assert "not checked: needs privileges" in res.stdout
    assert "Traceback" not in res.stdout + res.stderr
    assert "xqdoc" not in leftover_links()
