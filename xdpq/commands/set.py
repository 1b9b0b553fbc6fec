"""``xdpq set NAME k=v ...``: change a running scheduler's parameters."""

from __future__ import annotations

import argparse

from xdpq.runtime import registry, service
from xdpq.runtime.params import format_values, parse_assignments, read_params, write_params

EPILOG = """\
examples:
  sudo xdpq set edge weight[1]=4
  sudo xdpq set edge weight=1,4,1,1,1,1,1,1
  sudo xdpq set edge quantum=3000B target=5ms

Each value is one store into the scheduler's global data, which the next packet sees:
nothing is reloaded and no queued packet is lost. Values are checked against the program
first (names, units, ranges, table sizes); a refused change changes nothing.
"""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "set",
        help="change a running scheduler's parameters, live",
        description="Change parameters of a running deployment without reloading it.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("name", help="the deployment (see xdpq list)")
    p.add_argument("assignments", nargs="+", metavar="NAME=VALUE",
                   help="quantum=3000B, weight=1,2,1,..., weight[2]=3")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    with service.open_view(args.name) as view:
        prog = view.program
        before = read_params(view.obj, prog)
        values = parse_assignments(prog, args.assignments, before)
        write_params(view.obj, prog, values)
        after = read_params(view.obj, prog)
        st = view.state
        st.params = format_values(prog, after)
        registry.save(st)
    old, new = format_values(prog, before), format_values(prog, after)
    for k in values:
        print(f"{args.name}: {k} = {new[k]}" + (f" (was {old[k]})" if old[k] != new[k] else
                                                 " (unchanged)"))
    return 0
