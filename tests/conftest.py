"""Shared test rules.

Kernel tests (marked ``kernel``) run for real wherever we are root on a
kernel with BTF. There, a kernel test that skips is turned into a failure:
CI must never go green by not running the datapath.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from verbs import Cli

    from xdpq.net.testbed import TestBed

KERNEL_CAPABLE = os.geteuid() == 0 and Path("/sys/kernel/btf/vmlinux").exists()
REPO = Path(__file__).resolve().parents[1]


def repo_programs() -> list[Path]:
    """Every scheduler program (.xdpq) of the repository's tree."""
    return sorted(p for p in REPO.rglob("*.xdpq")
                  if not {".venv", "build", ".git"} & set(p.relative_to(REPO).parts))


@pytest.fixture(scope="session")
def generated_parser() -> Path:
    """The checkout's parser generated from the grammar (xdpq/dsl/lalr.py, which is not
    committed), written as ./run writes it where it is absent or stale."""
    from xdpq.dsl import lalr_build

    lalr_build.ensure()
    return lalr_build.GENERATED


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    outcome = yield
    report = outcome.get_result()
    if report.skipped and KERNEL_CAPABLE and item.get_closest_marker("kernel"):
        report.outcome = "failed"
        report.longrepr = (
            f"kernel test {item.nodeid} skipped on a machine that can run it "
            f"(root, BTF present): {report.longrepr}"
        )


def pytest_sessionstart(session: pytest.Session) -> None:
    # Test beds of a killed earlier run (no clean-up ran there) would only get
    # in the way: remove those whose builder is gone.
    if KERNEL_CAPABLE:
        from xdpq.net.testbed import reap_stale_beds

        reap_stale_beds()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if KERNEL_CAPABLE:
        return
    skip = pytest.mark.skip(reason="needs root and a kernel with BTF")
    for item in items:
        if item.get_closest_marker("kernel"):
            item.add_marker(skip)


@pytest.fixture
def bed() -> Iterator[TestBed]:
    """A veth test bed (sender, DUT, receiver), removed also when the test fails."""
    from xdpq.net.testbed import TestBed

    with TestBed() as b:
        yield b


@pytest.fixture
def cli() -> Iterator[Cli]:
    """The xdpq command line with a private registry (see tests/verbs.py)."""
    from verbs import Cli

    c = Cli()
    try:
        yield c
    finally:
        c.close()
