"""``xdpq sweep --dask`` on a real Dask cluster: a scheduler and worker processes on
127.0.0.1 (random ports), started by each test and always killed. The sweep's files
are byte-identical to ``--jobs 1``; a worker killed mid-sweep is retried on another,
or, where Dask may not retry, reported: no point goes missing from sweep.json."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from dask.distributed import Client

from conftest import REPO

SCENARIO = f"""
name = "dask-test"
duration = "150ms"
seed = 3
[link]
rate = "20mbit"
bql = "fixed:3000"
[scheduler]
file = "{REPO / "schedulers" / "stfq.xdpq"}"
[[workload]]
kind = "poisson"
rate = "12mbit"
size = "1000B"
[[workload]]
kind = "poisson"
rate = "12mbit"
size = "1000B"
dscp = 8
"""
GRID = ("--param", "weight[1]=1,2,3,4", "--param", "link.rate=20mbit,30mbit")
POINTS = 8


@dataclass
class Cluster:
    tmp: Path
    env: dict[str, str]
    address: str = ""
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start(self, *args: str) -> subprocess.Popen[bytes]:
        log = (self.tmp / f"dask-{len(self.procs)}.log").open("wb")
        p = subprocess.Popen([sys.executable, "-m", "dask", *args], stdout=log,
                             stderr=subprocess.STDOUT, env=self.env, cwd=self.tmp,
                             start_new_session=True)
        self.procs.append(p)
        return p

    def scheduler(self) -> None:
        sfile = self.tmp / "scheduler.json"
        self.start("scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                   "--scheduler-file", str(sfile))
        deadline = time.monotonic() + 60
        while not sfile.exists() or not sfile.read_text().strip():
            assert time.monotonic() < deadline, self.logs()
            time.sleep(0.1)
        self.address = json.loads(sfile.read_text())["address"]

    def worker(self, name: str) -> subprocess.Popen[bytes]:
        return self.start("worker", self.address, "--host", "127.0.0.1", "--nthreads", "1",
                          "--no-nanny", "--no-dashboard", "--name", name)

    def client(self) -> Client:
        return Client(self.address, timeout="30s")

    def kill(self, p: subprocess.Popen[bytes]) -> None:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
        p.wait(30)

    def logs(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in self.tmp.glob("dask-*.log"))


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES":
           "3"}
    c = Cluster(tmp_path, env)
    try:
        yield c
    finally:
        for p in c.procs:
            c.kill(p)


def sweep(scenario: Path, out: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "xdpq.cli", "sweep", str(scenario), *GRID,
                             "--no-plots", "--out", str(out), *args], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(REPO)})


def same_files(a: Path, b: Path) -> None:
    names = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert names == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    assert len(names) == 2 + 2 * POINTS  # sweep.json, sweep.csv; summary and records each
    for n in names:
        assert (a / n).read_bytes() == (b / n).read_bytes(), n


def wait_for_workers(cluster: Cluster, n: int) -> None:
    with cluster.client() as client:
        client.wait_for_workers(n, timeout=60)


def test_a_sweep_on_a_dask_cluster_is_the_same_as_one_process(
        cluster: Cluster, tmp_path: Path) -> None:
    """Two workers; one is killed once the sweep is under way: its point runs again on
    the other, and the files are those of --jobs 1, byte for byte."""
    scenario = tmp_path / "s.toml"
    scenario.write_text(SCENARIO)
    cluster.scheduler()
    doomed = cluster.worker("w0")
    cluster.worker("w1")
    wait_for_workers(cluster, 2)

    here = sweep(scenario, tmp_path / "here", "--jobs", "1")
    there = sweep(scenario, tmp_path / "there", "--dask", cluster.address)
    assert there.stdout is not None
    first = there.stdout.readline()
    assert first.startswith(f"[1/{POINTS}]"), (first, there.stderr.read() if there.stderr
                                              else "")
    cluster.kill(doomed)  # the rest, and whatever it was running, is w1's
    out, err = there.communicate(timeout=600)
    assert there.returncode == 0, err + cluster.logs()
    assert out.count("\n") == POINTS and "Traceback" not in err  # 7 more points, the files
    _, err = here.communicate(timeout=600)
    assert here.returncode == 0, err
    same_files(tmp_path / "here", tmp_path / "there")
    assert len(json.loads((tmp_path / "there" / "sweep.json").read_text())["points"]) == POINTS


def test_a_point_whose_worker_dies_where_dask_may_not_retry_is_reported(
        cluster: Cluster, tmp_path: Path) -> None:
    """With no retries allowed, the point of a killed worker fails: the sweep says
    which, exits 1 and writes no sweep.json with points missing."""
    scenario = tmp_path / "s.toml"
    scenario.write_text(SCENARIO)
    cluster.env["DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES"] = "0"
    cluster.scheduler()
    only = cluster.worker("w0")
    wait_for_workers(cluster, 1)
    run = sweep(scenario, tmp_path / "out", "--dask", cluster.address)
    with cluster.client() as client:
        deadline = time.monotonic() + 120
        while not any(client.processing().values()):  # a point is on the worker
            assert time.monotonic() < deadline and run.poll() is None, cluster.logs()
            time.sleep(0.05)
        cluster.kill(only)
    _, err = run.communicate(timeout=300)
    assert run.returncode == 1, err
    assert f"xdpq sweep: --dask {cluster.address}: " in err and "Traceback" not in err
    # Killed mid-point (nearly always); or, between two points, the rest waited for a
    # worker that never came.
    assert "did not run: KilledWorker" in err or "points not run: " in err, err
    assert not (tmp_path / "out" / "sweep.json").exists()
