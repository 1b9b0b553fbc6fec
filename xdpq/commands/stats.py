"""``xdpq stats NAME``: what a running scheduler did and holds."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

from xdpq.commands import console, json_options
from xdpq.errors import XdpqError
from xdpq.runtime import registry, report, service

EPILOG = """\
examples:
  sudo xdpq stats edge                     one table
  sudo xdpq stats edge --watch             a live table with rates, every second
  sudo xdpq stats edge --json | jq .drops
  sudo xdpq stats edge --prometheus        text exposition format, once
  sudo xdpq stats edge --listen 9464       serve it at http://127.0.0.1:9464/metrics
  sudo xdpq stats edge --listen 0.0.0.0:9464

A deployment that stopped on a fault (its egress deleted or down) shows its last
statistics, marked stopped, until `xdpq down NAME`.

Packets and bytes in (every frame the ingress program saw) and out (what the egress driver
took), drops by reason (the datapath's, and the scheduler program's own), frames the
scheduler did not claim (forwarded through the bypass FIFO, or passed to the stack), queue
occupancy per queue, BQL limit and bytes in flight, the link rate and the bytes queued
against its limit, what limits the scheduler (binding: rate, bql, eligibility, or none when
it runs out of packets) with its stops by cause, transmitter batches, and whether the egress
refuses frames (since when, with what error). A --both deployment shows each direction (in
JSON: the second under "reverse").
"""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "stats",
        help="show a running scheduler's counters, queues, BQL and transmitter",
        description="Read a deployment's statistics from its pinned maps.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("name", help="the deployment (see xdpq list)")
    out = p.add_mutually_exclusive_group()
    json_options(p, out)
    out.add_argument("--prometheus", action="store_true",
                     help="print the Prometheus text exposition format")
    out.add_argument("--listen", metavar="[ADDR:]PORT",
                     help="serve the Prometheus format over HTTP (default address 127.0.0.1)")
    out.add_argument("--watch", action="store_true", help="a live table, until Ctrl-C")
    p.add_argument("--interval", type=float, default=1.0, metavar="S",
                   help="seconds between --watch updates (default 1)")
    p.set_defaults(func=run)


def snapshot(view: service.View) -> dict[str, Any]:
    runtime = registry.read_runtime(view.state.name)
    s = report.collect(view.obj, view.program, runtime)
    if len(view.objs) > 1:
        s[registry.REVERSE] = report.collect(view.objs[1], view.program,
                                             runtime.get(registry.REVERSE))
    return _label(s, view.state)


def _label(s: dict[str, Any], st: registry.State) -> dict[str, Any]:
    s.update(name=st.name, ingress=st.ingress, egress=st.egress, netns=st.netns,
             started=st.started, pid=st.pid, file=st.file)
    if registry.REVERSE in s:
        s[registry.REVERSE].update(name=st.name, ingress=st.egress, egress=st.ingress,
                                   netns=st.netns, started=st.started)
    return s


def stopped(name: str) -> dict[str, Any] | None:
    """The last statistics of a deployment that stopped on a fault, if it is one."""
    st = registry.load(name)
    final = None if st.alive() else registry.read_final(name)
    return None if final is None else _label(final, st)


def run(args: argparse.Namespace) -> int:
    s = stopped(args.name)
    if s is not None:
        if args.listen or args.watch:
            raise XdpqError(f"deployment '{args.name}' stopped ({s['stopped']['fault']}); "
                            f"its last statistics: xdpq stats {args.name} [--json]")
        return _show(args, s)
    with service.open_view(args.name) as view:
        if args.listen:
            return _serve(view, args.listen)
        if args.watch:
            return _watch(view, args.interval)
        s = snapshot(view)
    return _show(args, s)


def _show(args: argparse.Namespace, s: dict[str, Any]) -> int:
    if args.json:
        print(json.dumps(s, indent=2))
    elif args.prometheus:
        sys.stdout.write(report.prometheus({args.name: s}))
    else:
        console().print(*tables(s, None))
    return 0


def _bits(bps: float) -> str:
    """A rate as tc prints one: 950Kbit, 12.5Mbit, 1.2Gbit."""
    for scale, unit in ((1e9, "Gbit"), (1e6, "Mbit"), (1e3, "Kbit")):
        if bps >= scale:
            return f"{bps / scale:.3g}{unit}"
    return f"{bps:.0f}bit"


def _rate(now: dict[str, Any], before: dict[str, Any] | None, *path: str) -> str:
    """Bits and packets per second of the counter at ``path`` (e.g. drops, queue_full):
    between two readings (``--watch``), or, for in and out, the deploying process's own
    estimate over its last second."""
    if before is None:
        r = now.get("rates") if len(path) == 1 else None
        if not r or path[0] not in r:
            return ""
        return f"{_bits(r[path[0]]['bps'])} {r[path[0]]['pps']:,.0f}pps"
    dt = now["time"] - before["time"]
    if dt <= 0:
        return ""
    a, b = now, before
    for k in path:
        a, b = a[k], b[k]
    return f"{_bits(8 * (a['bytes'] - b['bytes']) / dt)} " \
           f"{(a['packets'] - b['packets']) / dt:,.0f}pps"


def tables(s: dict[str, Any], before: dict[str, Any] | None) -> list[Any]:
    """One table per direction."""
    out = [table(s, before)]
    if registry.REVERSE in s:
        out.append(table(s[registry.REVERSE], before and before.get(registry.REVERSE)))
    return out


def table(s: dict[str, Any], before: dict[str, Any] | None) -> Any:
    from rich.table import Table

    t = Table(title=f"{s['name']}: {s['program']} on {s['ingress']} → {s['egress']}"
                    f"{' (netns ' + s['netns'] + ')' if s['netns'] else ''}, since "
                    f"{s['started']}", show_header=True, header_style="bold")
    t.add_column("")
    t.add_column("packets", justify="right")
    t.add_column("bytes", justify="right")
    t.add_column("rate", justify="right")
    t.add_row("in", f"{s['in']['packets']:,}", f"{s['in']['bytes']:,}", _rate(s, before, "in"))
    t.add_row("out", f"{s['out']['packets']:,}", f"{s['out']['bytes']:,}",
              _rate(s, before, "out"))
    for reason, v in s["drops"].items():
        if v["packets"] or v.get("reasons"):
            t.add_row(f"drop {reason}", f"{v['packets']:,}", f"{v['bytes']:,}",
                      _rate(s, before, "drops", reason))
        for own, w in v.get("reasons", {}).items():  # the program's, within it
            t.add_row(f"  of which {own}", f"{w['packets']:,}", f"{w['bytes']:,}", "")
    t.add_row("dropped, all reasons", f"{s['dropped']['packets']:,}",
              f"{s['dropped']['bytes']:,}", "")
    for reason, v in s["marks"].items():
        t.add_row(f"mark ce {reason}", f"{v['packets']:,}", f"{v['bytes']:,}", "")
    for reason, v in s["forwards"].items():
        t.add_row(f"forwarded, {reason}", f"{v['packets']:,}", f"{v['bytes']:,}",
                  _rate(s, before, "forwards", reason))
    for reason, v in s["passes"].items():
        if v["packets"]:
            t.add_row(f"pass {reason}", f"{v['packets']:,}", f"{v['bytes']:,}", "")
    t.add_section()
    for q, v in s["queues"].items():
        extra = f" ({v['busy']} of {v['queues']} busy)" if "queues" in v else ""
        t.add_row(f"queue {q} ({v['kind']}){extra}", f"{v['packets']:,}", f"{v['bytes']:,}",
                  f"cap {v['capacity']:,}")
    t.add_row("backlog / staged", f"{s['backlog']:,} / {s['staged']:,}", "", "")
    t.add_row("slots in use / pool", f"{s['slots']['in_use']:,} / {s['slots']['pool']:,}",
              "", "")
    b = s["bql"]
    t.add_row(f"bql {b['mode']}: limit / in flight", "", f"{b['limit']:,} / {b['inflight']:,}",
              "")
    r = s["rate"]
    queued, label = f"{r['backlog_bytes']:,}", "rate: queued"
    if r["limit_bytes"]:
        queued, label = f"{queued} / {r['limit_bytes']:,}", f"{label} / limit"
    t.add_row(label, "", queued, r["setting"].removeprefix("rate "))
    t.add_row(f"binding: {s['binding']}", "", "", "")
    t.add_row("stops: " + " / ".join(s["stops"]),
              " / ".join(f"{n:,}" for n in s["stops"].values()), "", "")
    x = s["transmitter"]
    t.add_row("transmitter runs / batches", f"{x['runs']:,} / {x['batches']:,}", "",
              f"{x['per_batch']} per batch")
    if x.get("error"):
        t.add_row("transmitter error", str(x["error"]), "", "")
    e = s["egress_state"]
    t.add_row("egress", f"refusing frames ({e['error']}) since {e['since']}" if e["refusing"]
              else "takes frames", "", "")
    if "stopped" in s:
        t.add_row("STOPPED", f"{s['stopped']['fault']} at {s['stopped']['at']}", "", "")
    for k, v in s["params"].items():
        t.add_row(f"param {k}", v, "", "")
    return t


def _watch(view: service.View, interval: float) -> int:
    from rich.console import Group
    from rich.live import Live

    before = None

    def term(signum: int, frame: object) -> None:
        raise KeyboardInterrupt  # as Ctrl-C: the last table stays on the screen

    signal.signal(signal.SIGTERM, term)
    try:
        with Live(auto_refresh=False) as live:
            while True:
                if not view.state.alive():
                    raise XdpqError(f"deployment '{view.state.name}' stopped")
                s = snapshot(view)
                live.update(Group(*tables(s, before)), refresh=True)
                before = s
                time.sleep(interval)
    except KeyboardInterrupt:
        if before is None:  # ended before its first table was drawn: the table stays anyway
            console().print(Group(*tables(snapshot(view), None)))
        return 0


def parse_listen(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    if not port.isdigit() or not 0 <= int(port) < 65536:
        raise XdpqError(f"--listen {text!r}: expected [ADDR:]PORT, e.g. 9464 or "
                        "127.0.0.1:9464")
    return host, int(port)


def _serve(view: service.View, listen: str) -> int:
    host, port = parse_listen(listen)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.split("?")[0] not in ("/metrics", "/"):
                self.send_error(404, "try /metrics")
                return
            if not view.state.alive():
                self.send_error(503, f"deployment '{view.state.name}' is not running")
                return
            body = report.prometheus({view.state.name: snapshot(view)}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    try:
        server = HTTPServer((host, port), Handler)
    except OSError as exc:
        raise XdpqError(f"--listen {listen}: cannot listen on {host}:{port}: "
                        f"{exc.strerror}") from None
    print(f"serving http://{host}:{server.server_port}/metrics for '{view.state.name}'; "
          "Ctrl-C stops", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0
