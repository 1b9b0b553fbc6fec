"""``xdpq doctor``: check this machine for everything the datapath needs."""

from __future__ import annotations

import argparse
import json

from xdpq import doctor


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "doctor",
        help="check this machine for every kernel feature xdpq needs",
        description=doctor.__doc__,
        epilog="example: sudo xdpq doctor --json | jq '.[] | select(.ok | not)'",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--json", action="store_true", help="print the checks as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    checks = doctor.run_checks()
    if args.json:
        print(json.dumps(doctor.as_json(checks), indent=2))
    else:
        width = max(len(c.name) for c in checks)
        for c in checks:
            mark = "✓" if c.ok else ("✗" if c.required else "!")
            line = f"{mark} {c.name:<{width}}  {c.detail}"
            if not c.ok and c.remedy:
                line += f"\n  {'':<{width}}  → {c.remedy}"
            print(line)
        print("ready" if doctor.healthy(checks) else "not ready: fix the ✗ lines above")
    return 0 if doctor.healthy(checks) else 1
