"""``xdpq set NAME k=v ...``: change a running scheduler's parameters, BQL and link rate."""

from __future__ import annotations

import argparse

from xdpq.commands import emit, json_options
from xdpq.commands.deploy import add_rate_flags
from xdpq.errors import XdpqError
from xdpq.ir.link import Bql
from xdpq.ir.params import format_values, parse_assignments
from xdpq.runtime import registry, service
from xdpq.runtime.params import read_params, write_params
from xdpq.runtime.shaping import FLAGS, read_shaper, shaper_from_flags

EPILOG = """\
examples:
  sudo xdpq set edge weight[1]=4
  sudo xdpq set edge weight=1,4,1,1,1,1,1,1
  sudo xdpq set edge quantum=3000B target=5ms
  sudo xdpq set edge --bql fixed:0           hold: queue, send nothing
  sudo xdpq set edge --bql adaptive          release
  sudo xdpq set edge --rate 50Mbit           a new link rate, at once
  sudo xdpq set edge --rate off              no link rate
  sudo xdpq set edge --latency 20ms --burst 2ms

Each value is one store into the scheduler's global data, which the next packet sees:
nothing is reloaded and no queued packet is lost. Values are checked against the program
first (names, units, ranges, table sizes); a refused change changes nothing.
The link rate flags change only what they name; a burst in bytes is converted at the rate.
A new rate starts its clock over from now.
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
    p.add_argument("assignments", nargs="*", metavar="NAME=VALUE",
                   help="quantum=3000B, weight=1,2,1,..., weight[2]=3")
    p.add_argument("--bql", metavar="adaptive|fixed:N|off",
                   help="change the BQL setting too (fixed:0 holds the scheduler)")
    add_rate_flags(p, deploying=False)
    json_options(p)  # {name, bql, shaper: {old, new}, params: {NAME: {old, new}}}
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    rating = any(getattr(args, f) is not None for f in FLAGS)
    if not args.assignments and not args.bql and not rating:
        raise XdpqError("say what to change: NAME=VALUE ..., --bql MODE and/or --rate RATE "
                        f"(e.g. xdpq set {args.name} weight[1]=2)")
    bql = Bql.parse(args.bql) if args.bql else None
    with service.open_view(args.name) as view:
        prog = view.program
        if bql is not None:
            view.check_bql(bql)
        shaper = before_shaper = read_shaper(view.obj)
        if rating:
            shaper = shaper_from_flags(shaper, *(getattr(args, f) for f in FLAGS))
        before = read_params(view.obj, prog)
        values = parse_assignments(prog, args.assignments, before)  # all checked first
        for obj in view.objs:  # --both: the same parameters both ways
            write_params(obj, prog, values)
        after = read_params(view.obj, prog)
        st = view.state
        st.params = format_values(prog, after)
        if bql is not None:
            view.set_bql(bql)
            st.bql = args.bql
        if rating:
            view.set_shaper(shaper)  # both directions of a --both deployment
            for key in ("shaper", "reverse_shaper"):
                if key in st.extra or key == "shaper":
                    st.extra[key] = shaper.describe()
        registry.save(st)
    old, new = format_values(prog, before), format_values(prog, after)
    if args.json:
        emit(args, {"name": args.name, "bql": args.bql,
                    "shaper": {"old": before_shaper.describe(), "new": shaper.describe()}
                    if rating else None,
                    "params": {k: {"old": old[k], "new": new[k]} for k in values}})
        return 0
    if bql is not None:
        print(f"{args.name}: bql = {args.bql}")
    if rating:
        print(f"{args.name}: {shaper.describe()} (was {before_shaper.describe()})")
    for k in values:
        print(f"{args.name}: {k} = {new[k]}" + (f" (was {old[k]})" if old[k] != new[k] else
                                                 " (unchanged)"))
    return 0
