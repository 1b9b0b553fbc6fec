"""``xdpq list``: the deployments on this machine."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict

from xdpq.commands import console, json_options
from xdpq.runtime import registry

EPILOG = """\
examples:
  sudo xdpq list
  sudo xdpq list --json | jq -r '.[].name'
"""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "list",
        help="list deployments: name, interfaces, since when, parameters",
        description="List the deployments recorded on this machine.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    json_options(p)
    p.set_defaults(func=run)


def refusing(st: registry.State) -> list[str]:
    """The egresses of a running deployment that refuse frames, with the error (from
    its runtime.json, refreshed every second), e.g. ``["out0 (ENXIO)"]``."""
    runtime = registry.read_runtime(st.name)
    ways = [runtime, runtime.get(registry.REVERSE) or {}]
    return [f"{egress} ({w['egress_refusing']})"
            for (_, egress, _), w in zip(st.directions(), ways, strict=False)
            if w.get("egress_refusing")]


def run(args: argparse.Namespace) -> int:
    states = registry.all_states()
    broken = sorted(set(registry.names()) - {s.name for s in states})
    if args.json:
        print(json.dumps([{**asdict(s), "running": s.alive(),
                           "egress_refusing": refusing(s) if s.alive() else [],
                           "stopped": (registry.read_final(s.name) or {}).get("stopped")}
                          for s in states]
                         + [{"name": n, "running": False, "broken": True} for n in broken],
                         indent=2))
        return 0
    if not states and not broken:
        print("no deployments (start one with xdpq deploy)")
        return 0
    from rich.table import Table

    t = Table(header_style="bold")
    for col in ("name", "scheduler", "interfaces", "since", "status", "parameters"):
        t.add_column(col)
    for s in states:
        ns = f" (netns {s.netns})" if s.netns else ""
        final = None if s.alive() else registry.read_final(s.name)
        refused = refusing(s) if s.alive() else []
        status = (f"running, pid {s.pid}" + ("" if s.detached else ", foreground")
                  + "".join(f", egress refusing: {r}" for r in refused)
                  if s.alive() else
                  f"stopped: {final['stopped']['fault']}; xdpq down {s.name}" if final else
                  f"dead, queue kept: deploy again to resume, or xdpq down {s.name}")
        t.add_row(s.name, s.program, f"{s.arrow()}{ns}", s.started, status,
                  " ".join(f"{k}={v}" for k, v in s.params.items()) or "-")
    for n in broken:
        t.add_row(n, "?", "?", "?", f"incomplete: xdpq down {n}", "")
    console().print(t)
    return 0
