"""``xdpq deploy FILE --in IFACE --out IFACE``: run a scheduler between two interfaces."""

from __future__ import annotations

import argparse
import os
import select
import subprocess
import sys
import threading
import time
from dataclasses import asdict
from pathlib import Path

from xdpq.commands import emit, json_options
from xdpq.errors import XdpqError
from xdpq.net import host
from xdpq.runtime import registry, service

EPILOG = """\
examples:
  sudo xdpq deploy schedulers/stfq.xdpq --in eth1 --out eth2 --param weight=1,4,1,1,1,1,1,1
  sudo xdpq deploy schedulers/drr.xdpq --in eth1 --out eth2 --param quantum=3000B --detach
  sudo xdpq deploy schedulers/fq_codel.xdpq --in in0 --out out0 --netns dut \\
       --param target=5ms --param interval=100ms --bql fixed:30000 --name edge --detach
  sudo xdpq deploy schedulers/fq_codel.xdpq --in eth1 --out eth2 --rate 100Mbit --latency 50ms
  sudo xdpq deploy schedulers/fq_codel.xdpq --in eth1 --out eth2 --both --detach

xdpq is a bump in the wire: frames cross unchanged (no routing, no MAC rewrite), and
everything a host sends crosses, scheduled or not. Frames the scheduler does not claim (ARP
and other non-IP, what its program passes, what cannot be parsed) go out first, through a
FIFO of their own, counted as forwarded; --unclaimed stack gives them to this host's stack
instead. --both schedules the way back too (egress → ingress) with a second copy of the
program, the same parameters, in the same process and under the same name, so that TCP's
ACKs and ARP replies come back; or deploy the exact reverse (--in eth2 --out eth1) as a
deployment of its own.

Parameters are named as in the program and take its units (quantum=3000B, target=5ms,
rate=10Mbit; plain numbers for counts). A table takes all its values (weight=1,2,1,1,...),
one for every entry (weight=3), or one entry (weight[2]=3).

The link rate: the scheduler releases no more than --rate (a token bucket with --burst,
counting each frame's bytes plus --overhead), so the queue builds in the scheduler, not in
the device. --latency bounds what the queues hold to that long at the rate (tc tbf's
latency): an arrival beyond it is dropped (drop_overlimit). With BQL too, both must allow.
By default (--rate auto) a physical NIC that reports its speed gets 95% of it counted on the
wire (overhead 24); a veth, and anything without a speed, gets no rate unless given.

In the foreground the scheduler runs until Ctrl-C or SIGTERM, then detaches and drains.
With --detach it runs in a background process; find it with `xdpq list`, watch it with
`xdpq stats NAME`, change it with `xdpq set NAME k=v`, stop it with `xdpq down NAME`.
Before anything changes, deploy refuses (exit status 1, saying what to do) when an
interface is missing or down, the ingress already has an XDP program (see --replace), the
egress driver cannot take redirected frames, a parameter is unknown, out of range or has the
wrong unit, the process lacks CAP_NET_ADMIN/CAP_BPF/CAP_PERFMON, or the name or an interface
is taken by another deployment.

Faults. If the process dies (SIGKILL, a crash), nothing stays attached (the ingress program
and the tracepoints hang on bpf_links of the process), but the maps stay pinned with what
was queued, and `xdpq list` shows the deployment dead. Run the same deploy again (same
program, interfaces and --name; e.g. systemd's Restart=) and it resumes: it takes over the
pinned maps, so every queued packet is still sent, and counters, parameters changed with
`xdpq set` and the BQL state carry on. `xdpq down NAME` drops them instead. If the egress
is deleted or set down (or the ingress deleted) while it runs, the deployment stops, says
why, and exits with status 1; `xdpq stats NAME` then shows its last statistics until
`xdpq down NAME` (or a new deploy of that name) removes them. A state directory on a full or
read-only file system (XDPQ_RUN_DIR) or a read-only BPF file system (XDPQ_PIN_DIR) is
refused with what to fix, and nothing is left attached.
"""

READY = "ready"
START_TIMEOUT_S = 120.0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "deploy",
        help="run a scheduler between two interfaces (foreground, or --detach)",
        description="Compile a scheduler program, load it, attach it to the ingress interface "
                    "and send what it schedules out of the egress interface.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("file", type=Path, help="the .xdpq program")
    p.add_argument("--in", dest="ingress", required=True, metavar="IFACE",
                   help="the interface packets arrive on (the scheduler attaches here)")
    p.add_argument("--out", dest="egress", required=True, metavar="IFACE",
                   help="the interface scheduled packets leave by")
    p.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                   help="set a parameter (repeatable): quantum=3000B, weight=1,2,1,..., "
                        "weight[2]=3")
    p.add_argument("--bql", metavar="adaptive|fixed:N|off",
                   help="byte limit on what the device holds (default: adaptive, or off "
                        "under a link rate; adaptive and fixed need a veth egress)")
    add_rate_flags(p, deploying=True)
    p.add_argument("--name", help="the deployment's name for the other verbs "
                                  "(default: the scheduler's name)")
    p.add_argument("--detach", action="store_true", help="run in the background")
    p.add_argument("--replace", action="store_true",
                   help="take off an XDP program already attached to the ingress")
    p.add_argument("--netns", default="", metavar="NS",
                   help="the interfaces are in network namespace NS (/run/netns/NS)")
    p.add_argument("--both", action="store_true",
                   help="schedule both directions: also from --out to --in, with a second "
                        "copy of the program")
    p.add_argument("--unclaimed", default="forward", metavar="forward|stack",
                   help="frames the scheduler does not claim (ARP, non-IP, passed, "
                        "unparsable): out of the egress before the scheduler's queues "
                        "(default), or to this host's stack")
    p.add_argument("--daemon-child", action="store_true", help=argparse.SUPPRESS)
    json_options(p)  # a JSON line {event: ready|stopped, ...}; --detach: the deployment's record
    p.set_defaults(func=run)


def add_rate_flags(p: argparse.ArgumentParser, deploying: bool) -> None:
    """The link rate flags of ``deploy`` and ``set``."""
    p.add_argument("--rate", default=service.AUTO if deploying else None,
                   metavar="RATE|off" + ("|auto" if deploying else ""),
                   help="the link rate the scheduler releases at, e.g. 100Mbit" + (
                       " (default auto: 95%% of a NIC's speed; none on a veth)"
                       if deploying else "; off: none"))
    p.add_argument("--burst", metavar="TIME|SIZE",
                   help="how far ahead of the rate it may send (default 1ms; a size is "
                        "converted at the rate)")
    p.add_argument("--overhead", metavar="BYTES",
                   help="bytes counted per frame beyond its length (24: Ethernet on the "
                        "wire; default 0, or 24 with the rate from a NIC's speed)")
    p.add_argument("--latency", metavar="TIME|off",
                   help="bound the queues to this long at the rate (tc tbf's latency); an "
                        "arrival beyond it is dropped (drop_overlimit)")


def _spec(args: argparse.Namespace) -> service.Spec:
    return service.Spec(file=args.file.resolve(), ingress=args.ingress, egress=args.egress,
                        params=args.param, bql=args.bql, name=args.name,
                        replace=args.replace, netns=args.netns,
                        detached=args.detach or args.daemon_child, rate=args.rate,
                        burst=args.burst, overhead=args.overhead, latency=args.latency,
                        both=args.both, unclaimed=args.unclaimed)


def run(args: argparse.Namespace) -> int:
    host.check_capabilities("deploy")
    if args.netns:
        host.enter_netns(args.netns)
    spec = _spec(args)
    if args.daemon_child:
        return _child(spec)
    plan = service.preflight(spec)  # refusals: before anything changes
    spec.name = plan.name
    if args.detach:
        return _detach(args, spec)
    return _foreground(args, spec)


def _foreground(args: argparse.Namespace, spec: service.Spec) -> int:
    stop = threading.Event()

    def ready(st: registry.State) -> None:
        if args.json:
            emit(args, {"event": "ready", **asdict(st)})
            sys.stdout.flush()
            return
        params = " ".join(f"{k}={v}" for k, v in st.params.items())
        print(f"xdpq: '{st.name}' runs {st.program} on {st.arrow()} "
              f"(bql {st.bql}, {st.extra['shaper']}{', ' + params if params else ''})"
              f"{resumed(st)}; Ctrl-C stops it", flush=True)

    with service.stop_signals(stop):
        served = service.serve(spec, stop, ready, log=lambda m: print(m, file=sys.stderr))
    if served.final and args.json:
        counters = [{k: asdict(v) for k, v in f.counters.items()} for f in served.final]
        emit(args, {"event": "stopped", "name": served.name, "fault": served.fault or None,
                    "counters": counters[0],
                    **({"reverse": {"counters": counters[1]}} if len(counters) > 1 else {})})
    elif served.final:
        for (ingress, egress), final in zip(spec.directions(), served.final, strict=False):
            c = final.counters
            way = f" ({ingress} → {egress})" if spec.both else ""
            print(f"xdpq: '{served.name}' stopped{way}: "
                  f"{c['transmitted'].packets - c['drop_xmit'].packets} packets sent, "
                  f"{sum(v.packets for k, v in c.items() if k.startswith('drop_'))} dropped "
                  f"({c['drop_shutdown'].packets} still queued at the end), "
                  f"{sum(v.packets for k, v in c.items() if k.startswith('forward_'))} not "
                  "scheduled (forwarded), "
                  f"{sum(v.packets for k, v in c.items() if k.startswith('pass_'))} passed",
                  flush=True)
    if served.fault:
        print(f"xdpq deploy: '{served.name}' stopped: {served.fault}; its last "
              f"statistics: xdpq stats {served.name}; remove it: xdpq down {served.name}",
              file=sys.stderr)
        return 1
    return 0


def resumed(st: registry.State) -> str:
    """What a deployment resumed from a dead process's maps took over, for its banner."""
    if "resumed_from" not in st.extra:
        return ""
    return (f", resumed from process {st.extra['resumed_from']} with "
            f"{st.extra['resumed_queued']} packets queued and {st.extra['resumed_staged']} "
            "staged")


def _detach(args: argparse.Namespace, spec: service.Spec) -> int:
    """Start the deployment in a new session, wait until it runs (or says why not)."""
    argv = [sys.executable, "-m", "xdpq.cli", "deploy", str(spec.file), "--in", spec.ingress,
            "--out", spec.egress, "--name", str(spec.name),
            *(["--bql", spec.bql] if spec.bql is not None else []),
            "--unclaimed", spec.unclaimed, "--daemon-child", *spec.rate_flags(),
            *(["--replace"] if spec.replace else []), *(["--both"] if spec.both else []),
            *(["--netns", spec.netns] if spec.netns else [])]
    for p in spec.params:
        argv += ["--param", p]
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True, text=True,
                            cwd="/", close_fds=True)  # cwd /: hold no mount busy
    assert proc.stdout is not None
    said = _read_until_eof(proc, START_TIMEOUT_S)  # the child lets go once it runs, or exits
    if said.strip() == READY:
        st = registry.load(str(spec.name))
        if args.json:
            emit(args, asdict(st))
            return 0
        print(f"xdpq: '{st.name}' runs {st.program} on {st.arrow()} in the "
              f"background ({st.extra['shaper']}, pid {st.pid}){resumed(st)}; "
              f"xdpq stats {st.name} / xdpq down {st.name}")
        return 0
    rc = proc.wait()
    print(said.rstrip() or f"xdpq deploy: the background process failed (status {rc})",
          file=sys.stderr)
    return 1


def _read_until_eof(proc: subprocess.Popen[str], timeout: float) -> str:
    assert proc.stdout is not None
    fd, chunks = proc.stdout.fileno(), []
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        if select.select([fd], [], [], left)[0]:
            data = os.read(fd, 65536)
            if not data:
                return b"".join(chunks).decode(errors="replace")
            chunks.append(data)
    proc.terminate()  # it takes down whatever it brought up
    proc.wait()
    return (f"xdpq deploy: the background process did not come up within {timeout:.0f} s "
            "and was stopped; run without --detach to see where it hangs")


def _child(spec: service.Spec) -> int:
    """The background process: serve; report ready (or the error) on stdout, then let
    go of it, so that the waiting parent returns."""
    stop = threading.Event()
    logf: list[object] = []

    def ready(st: registry.State) -> None:
        sys.stdout.write(READY + "\n")
        sys.stdout.flush()
        log = os.open(st.dir / registry.LOG, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        null = os.open(os.devnull, os.O_RDWR)
        os.dup2(null, 0)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.close(null)
        os.close(log)
        logf.append(st)

    def log(msg: str) -> None:
        print(time.strftime("%Y-%m-%dT%H:%M:%S ") + msg, file=sys.stderr, flush=True)

    try:
        with service.stop_signals(stop):
            served = service.serve(spec, stop, ready, log)
    except XdpqError as exc:
        if logf:
            log(f"xdpq deploy: {exc}")
        else:
            print(f"xdpq deploy: {exc}", flush=True)
        return 1
    for final in served.final:
        c = final.counters
        log(f"stopped; transmitted {c['transmitted'].packets}, "
            f"drop_xmit {c['drop_xmit'].packets}, drop_shutdown {c['drop_shutdown'].packets}")
    return 1 if served.fault else 0
