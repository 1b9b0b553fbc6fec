"""``xdpq sim``: a scenario file in, JSON, CSV and PNGs out."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import REPO
from xdpq.cli import main


def test_xdpq_sim_writes_summary_records_and_plots(tmp_path: Path) -> None:
    assert main(["sim", str(REPO / "sim" / "stfq.toml"), "--out", str(tmp_path)]) == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary
    assert (tmp_path / "records.csv").read_text().count("\n") > 100
    pngs = list(tmp_path.glob("*.png"))
    assert pngs and all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs)
