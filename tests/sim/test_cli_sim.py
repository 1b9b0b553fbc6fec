"""``xdpq sim``: every scenario file in sim/ in, JSON, CSV and PNGs out."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import REPO
from xdpq.cli import main

SCENARIOS = sorted((REPO / "sim").glob("*.toml"))
PNG = b"\x89PNG\r\n\x1a\n"


def assert_run(out: Path) -> None:
    summary = json.loads((out / "summary.json").read_text())
    assert summary["delivered"] > 0
    assert (out / "records.csv").read_text().count("\n") > 100
    pngs = list(out.glob("*.png"))
    assert len(pngs) >= 3 and all(p.read_bytes()[:8] == PNG for p in pngs)


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_xdpq_sim_writes_summary_records_and_plots(path: Path, tmp_path: Path) -> None:
    assert main(["sim", str(path), "--out", str(tmp_path)]) == 0
    if not (tmp_path / "sweep.json").exists():
        assert_run(tmp_path)
        return
    # A [sweep]: one run per value in its own directory, and the comparison.
    points = json.loads((tmp_path / "sweep.json").read_text())["points"]
    dirs = sorted(d for d in tmp_path.iterdir() if d.is_dir())
    assert [tmp_path / p["label"] for p in points] == dirs and len(dirs) >= 2
    for d in dirs:
        assert_run(d)
    assert (tmp_path / "sweep.png").read_bytes()[:8] == PNG
    assert (tmp_path / "sweep.csv").read_text().count("\n") == len(points) + 1
