"""A named deployment's life: checks before anything changes, up, run, down.

``preflight`` refuses (raising :class:`XdpqError` with the problem and the
fix) before anything is attached, pinned or recorded; ``serve`` brings the
deployment up, records it (see :mod:`xdpq.runtime.registry`), runs until
told to stop, and takes everything down again; ``open_view`` gives another
process the running scheduler's maps through their pins.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType

from xdpq import ir
from xdpq.bpf import BpfObject
from xdpq.bpf.program import PinnedProgram
from xdpq.codegen.build import Compiled, compile_file
from xdpq.dsl import check, parse
from xdpq.errors import XdpqError
from xdpq.ir.link import Bql, Shaper, default_bql
from xdpq.ir.outcomes import Unclaimed
from xdpq.ir.params import format_values, parse_assignments
from xdpq.net import host
from xdpq.net.links import LinkInfo, link_info, link_speed
from xdpq.net.netdev import feature_names, xdp_features
from xdpq.runtime import registry, report
from xdpq.runtime.deploy import Deployment, Stats, check_bql_egress, write_bql
from xdpq.runtime.params import read_params
from xdpq.runtime.shaping import AUTO, default_shaper, shaper_from_flags, write_shaper

IFF_UP, IFF_LOWER_UP = 0x1, 0x10000
# IFLA_XDP_ATTACHED (as a number, or as pyroute2 names it) -> the ip-link keyword that
# detaches it
XDP_MODES = {1: "xdpdrv", 2: "xdpgeneric", 3: "xdpoffload", 4: "xdp", "xdp": "xdpdrv",
             "xdpgeneric": "xdpgeneric", "xdpoffload": "xdpoffload", "xdpmulti": "xdp"}


@dataclass
class Spec:
    """What ``xdpq deploy`` was asked to do."""

    file: Path
    ingress: str
    egress: str
    params: list[str]
    bql: str | None = None  # None: adaptive, or off under a link rate (default_bql)
    name: str | None = None
    replace: bool = False
    netns: str = ""
    detached: bool = False
    rate: str = AUTO  # the link rate flags as given; the others None when not given
    burst: str | None = None
    overhead: str | None = None
    latency: str | None = None

    def rate_flags(self) -> list[str]:
        """The link rate flags that were given, as arguments of ``xdpq deploy``."""
        return [arg for flag in ("rate", "burst", "overhead", "latency")
                if (v := getattr(self, flag)) is not None for arg in (f"--{flag}", v)]
    both: bool = False  # also egress → ingress, with a second copy of the program
    unclaimed: str = "forward"

    def directions(self) -> list[tuple[str, str]]:
        """(ingress, egress) of each direction, the asked one first."""
        return [(self.ingress, self.egress)] + ([(self.egress, self.ingress)] if self.both
                                                else [])


@dataclass(frozen=True, slots=True)
class Served:
    """How ``serve`` ended: the deployment's final statistics (see ``Deployment.stop``),
    one per direction, and the fault that stopped it (None: it was told to stop)."""

    name: str
    final: list[Stats]
    fault: str | None


@dataclass
class Plan:
    """A spec that passed every check: what ``serve`` brings up."""

    spec: Spec
    name: str
    compiled: Compiled
    values: dict[str, int | list[int]]
    bql: Bql
    shaper: Shaper
    reverse_shaper: Shaper  # --both: the way back's (its egress is --in)
    unclaimed: Unclaimed
    ingress: LinkInfo
    egress: LinkInfo
    netns_inode: int


# -- checks ----------------------------------------------------------------------------


def check_bpffs() -> None:
    problem = host.bpffs_problem(registry.pin_root())
    if problem:
        raise XdpqError(f"{problem}: {host.BPFFS_REMEDY}")


def _link_facts(name: str, netns: str) -> tuple[LinkInfo, int, str, int]:
    """LinkInfo, flags, XDP mode attached ("": none; as ip-link's keyword) and its
    program id."""
    from pyroute2 import IPRoute

    try:
        info = link_info(name)
    except XdpqError:
        where = f"in network namespace '{netns}'" if netns else "in this network namespace"
        elsewhere = [ns for ns in host.namespaces_holding(name) if ns != netns]
        if elsewhere:
            raise XdpqError(f"interface '{name}' does not exist {where}, but network "
                            f"namespace '{elsewhere[0]}' has one: add --netns {elsewhere[0]}"
                            ) from None
        raise XdpqError(f"interface '{name}' does not exist {where}: check the name "
                        f"({host.ip_command(netns)} link show)") from None
    with IPRoute() as ip:
        msg = ip.get_links(info.ifindex)[0]
    xdp = msg.get_attr("IFLA_XDP")
    attached = (xdp.get_attr("IFLA_XDP_ATTACHED") or 0) if xdp else 0
    prog = (xdp.get_attr("IFLA_XDP_PROG_ID") or 0) if xdp else 0
    return info, msg["flags"], XDP_MODES.get(attached, "xdp") if attached else "", prog


def check_interfaces(spec: Spec, own: str) -> tuple[LinkInfo, LinkInfo, int]:
    where = f" in network namespace '{spec.netns}'" if spec.netns else ""
    if spec.ingress == spec.egress:
        raise XdpqError(f"--in and --out are both {spec.ingress}: the scheduler takes packets "
                        "from one interface and sends them out of another; name two")
    ns = host.netns_inode()
    for st in registry.all_states():
        if st.name == own or not st.alive() or _reverse_of(st, spec, ns):
            continue
        for port in (spec.ingress, spec.egress):
            if (ns, port) in st.interfaces():
                raise XdpqError(
                    f"interface {port}{where} is in use by xdpq deployment '{st.name}' "
                    f"({st.arrow()}): take that one down first (xdpq down {st.name}) or use "
                    "other interfaces (its exact reverse, --in "
                    f"{st.egress} --out {st.ingress}, may run beside it)")
    facts = {}
    for role, port in (("--in", spec.ingress), ("--out", spec.egress)):
        info, flags, mode, prog = _link_facts(port, spec.netns)
        if not flags & IFF_UP:
            raise XdpqError(f"interface {port} ({role}){where} is down: bring it up first "
                            f"({host.ip_command(spec.netns)} link set dev {port} up)")
        if not flags & IFF_LOWER_UP:
            raise XdpqError(f"interface {port} ({role}){where} has no carrier (cable, or the "
                            "veth peer is down): fix the link first")
        facts[port] = (info, mode, prog)
    for ingress, egress in spec.directions():
        role = "--in" if ingress == spec.ingress else "--out, the ingress of --both's reverse"
        _, mode, prog = facts[ingress]
        if mode and not spec.replace:
            raise XdpqError(
                f"interface {ingress} ({role}) already has an XDP program (id {prog}, "
                f"{mode} mode): xdpq will not replace it unless told to; say --replace, or "
                f"detach it first ({host.ip_command(spec.netns)} link set dev {ingress} {mode} "
                "off)")
        info = facts[egress][0]
        features = xdp_features(info.ifindex)
        if missing := host.missing_egress_features(features):
            peer, peer_ns = host.veth_peer(info.ifindex) if info.kind == "veth" else ("", "")
            what = "--out" if egress == spec.egress else "--in, the egress of --both's reverse"
            raise XdpqError(
                f"interface {egress} ({what}) cannot take redirected frames: its driver does "
                f"not advertise {feature_names(missing).replace('_', '-')} in netdev "
                f"xdp-features (it has: {feature_names(features)}): "
                + host.egress_remedy(info.kind, peer or f"ifindex {info.peer_ifindex}",
                                     spec.netns if peer_ns == "" else peer_ns or ""))
    return facts[spec.ingress][0], facts[spec.egress][0], ns


def _reverse_of(st: registry.State, spec: Spec, ns: int) -> bool:
    """Whether ``spec`` is the exact reverse of the single-direction deployment ``st``:
    each direction its own program, on the same two interfaces."""
    return (not (st.both or spec.both) and st.netns_inode == ns
            and (st.ingress, st.egress) == (spec.egress, spec.ingress))


def compile_program(path: Path) -> Compiled:
    if not path.is_file():
        raise XdpqError(f"{path}: no such file: give the path of a .xdpq program "
                        "(e.g. schedulers/stfq.xdpq)")
    return compile_file(path)


def preflight(spec: Spec, own_claim: bool = False) -> Plan:
    """Every refusal, before anything changes. ``own_claim``: the caller already holds
    the name (the deploying process itself)."""
    host.check_capabilities("deploy")
    check_bpffs()
    compiled = compile_program(spec.file)
    name = registry.check_name(spec.name or compiled.program.name)
    if not own_claim:
        left_behind(name, spec)
    values = parse_assignments(compiled.program, spec.params)
    given = Bql.parse(spec.bql) if spec.bql is not None else None
    unclaimed = Unclaimed.parse(spec.unclaimed)
    ingress, egress, ns = check_interfaces(spec, name if own_claim else "")
    shaper = link_shaper(spec, egress)
    reverse = link_shaper(spec, ingress) if spec.both else Shaper()
    bql = given if given is not None else default_bql(shaper)
    check_bql_egress(bql, spec.egress, egress.kind)
    if spec.both:
        check_bql_egress(bql, spec.ingress, ingress.kind)
    return Plan(spec, name, compiled, values, bql, shaper, reverse, unclaimed, ingress, egress,
                ns)


def link_shaper(spec: Spec, egress: LinkInfo) -> Shaper:
    """The link rate the flags ask for, out of ``egress``; ``--rate auto``: from the
    egress's speed (see :mod:`xdpq.runtime.shaping`)."""
    auto = spec.rate == AUTO
    base = default_shaper(egress.kind, link_speed(egress.name)) if auto else Shaper()
    return shaper_from_flags(base, None if auto else spec.rate, spec.burst, spec.overhead,
                             spec.latency)



# -- up, run, down -----------------------------------------------------------------------


def _detach_existing(port: str) -> None:
    """--replace: take off the XDP program on ``port`` (attached through netlink)."""
    from xdpq.net.links import link_info as li

    info, _, mode, prog = _link_facts(port, "")
    if not mode:
        return
    res = subprocess.run(["ip", "link", "set", "dev", info.name, mode, "off"],
                         capture_output=True, text=True)
    if res.returncode != 0 or li(port).xdp_attached:
        raise XdpqError(
            f"--replace: the XDP program on {port} (id {prog}) could not be detached "
            f"({res.stderr.strip() or 'it is held by a bpf_link'}): stop the process that "
            "holds it, then deploy again")


def _sd_notify(text: str) -> None:
    """Tell systemd (Type=notify) how we are, when it runs us."""
    addr = os.environ.get("NOTIFY_SOCKET")
    if not addr:
        return
    if addr.startswith("@"):
        addr = "\0" + addr[1:]
    with contextlib.suppress(OSError), socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        s.sendto(text.encode(), addr)


@contextlib.contextmanager
def stop_signals(stop: threading.Event) -> Iterator[None]:
    """SIGTERM, SIGINT and SIGHUP ask the deployment to stop (checked by ``serve``'s loop;
    during bring-up they take effect as soon as it is up, so nothing is left half-made)."""
    def handler(signum: int, frame: FrameType | None) -> None:
        stop.set()

    sigs = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
    previous = {s: signal.signal(s, handler) for s in sigs}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def left_behind(name: str, spec: Spec) -> registry.State | None:
    """The records of a deployment NAME whose process is gone and whose maps are still
    pinned, when this deploy resumes it (same program text, interfaces and namespace);
    None when there is nothing to resume: no record of NAME, or records without maps
    (a deployment stopped by a fault keeps only its final statistics, which a new
    deploy replaces). Refuses a running NAME, damaged records, and a left-behind
    deployment of another program or other interfaces."""
    if not registry.state_dir(name).exists():
        return None
    try:
        st = registry.load(name)
    except XdpqError:
        raise registry.name_taken(name) from None
    if st.alive() or not registry.pinned(name):
        if st.alive():
            raise registry.name_taken(name)
        return None
    try:
        same_text = (st.dir / registry.SOURCE).read_text() == spec.file.read_text()
    except OSError:
        same_text = False
    if not same_text or (st.ingress, st.egress, st.netns_inode, st.both, st.unclaimed) != (
            spec.ingress, spec.egress, host.netns_inode(), spec.both, spec.unclaimed):
        raise registry.name_taken(name)
    return st


def _make(path: Path, write: Callable[[], object]) -> None:
    try:
        write()
    except OSError as exc:
        raise registry.cannot_write(path, exc) from None


def link_fault(link: LinkInfo, role: str) -> str | None:
    """Why ``link`` can no longer carry the deployment (deleted, or set down), or None."""
    from pyroute2 import IPRoute
    from pyroute2.netlink.exceptions import NetlinkError

    with IPRoute() as ip:
        try:
            msg = ip.get_links(link.ifindex)[0]
        except NetlinkError:
            return f"interface {link.name} ({role}) was deleted"
    if not msg["flags"] & IFF_UP:
        return f"interface {link.name} ({role}) went down"
    return None


def serve(spec: Spec, stop: threading.Event,
          ready: Callable[[registry.State], None] = lambda st: None,
          log: Callable[[str], None] = print) -> Served:
    """Claim the name (or take over a left-behind deployment of it, to resume it),
    check, bring up, record; run until ``stop`` is set or a fault (an interface deleted
    or down, a transmitter failed); take it all down, and say how it ended. When it
    returns, everything it made is gone, except that after a fault the records stay with
    ``final.json`` (for ``xdpq stats``) until ``xdpq down``. With ``spec.both`` it runs
    a second copy of the program for the way back (see :mod:`registry`)."""
    name = registry.check_name(spec.name or compile_program(spec.file).program.name)
    previous = left_behind(name, spec)
    if previous is None:
        registry.remove(name)  # a stopped deployment's final statistics, if any
        sdir = registry.claim(name)  # refuses a taken name
    else:
        sdir = registry.take_over(previous)
    ways: list[Way] = []
    up, fault = False, None
    try:
        plan = preflight(spec, own_claim=True)
        pins = registry.pin_dir(name)
        if previous is None:
            _make(sdir / registry.OBJECT,
                  lambda: shutil.copyfile(plan.compiled.obj_path, sdir / registry.OBJECT))
            _make(sdir / registry.SOURCE,
                  lambda: (sdir / registry.SOURCE).write_text(spec.file.read_text()))
            for f in (registry.OBJECT, registry.SOURCE):
                os.chmod(sdir / f, 0o600)
            _make(pins, lambda: pins.parent.mkdir(mode=0o700, parents=True, exist_ok=True))
            _make(pins, lambda: os.mkdir(pins, 0o700))
            if spec.both:
                _make(pins, lambda: os.mkdir(pins / registry.REVERSE, 0o700))
        prog = plan.compiled.program
        for i, (ingress, egress) in enumerate(spec.directions()):
            if spec.replace:
                _detach_existing(ingress)
            d = Deployment(sdir / registry.OBJECT, ingress, egress, bql=plan.bql,
                           params={} if previous else plan.values, program=prog,
                           shaper=plan.reverse_shaper if i else plan.shaper,
                           pin_dir=pins / registry.REVERSE if i else pins,
                           resume=previous is not None, unclaimed=plan.unclaimed)
            ways.append(Way(d))
            if previous is not None:  # what `xdpq set` changed stays, unless given again
                d.set_params(parse_assignments(prog, spec.params, read_params(d.obj, prog)))
        extra: dict[str, object] = {"egress_kind": plan.egress.kind,
                                    "shaper": plan.shaper.describe()}
        if spec.both:  # the egress of the way back
            extra["ingress_kind"] = plan.ingress.kind
            extra["reverse_shaper"] = plan.reverse_shaper.describe()
        if previous is not None:
            queued, staged = (sum(n) for n in zip(*(w.d.taken_over for w in ways), strict=True))
            extra.update(resumed_from=previous.pid, resumed_queued=queued, resumed_staged=staged)
        first = ways[0].d
        st = registry.State(
            name=name, file=str(spec.file.resolve()), program=prog.name,
            ingress=spec.ingress, egress=spec.egress, netns=spec.netns,
            netns_inode=plan.netns_inode,
            params=format_values(prog, read_params(first.obj, prog)),
            bql=str(plan.bql), pid=os.getpid(), pid_start=registry.process_start(os.getpid()) or 0,
            started=datetime.now(UTC).isoformat(timespec="seconds"),
            detached=spec.detached, extra=extra, both=spec.both,
            unclaimed=first.unclaimed.value)
        registry.save(st)
        up = True
        said = _runtime(name, ways)
        ready(st)
        _sd_notify("READY=1")
        links = [(plan.egress, "--out"), (plan.ingress, "--in")]
        while not stop.wait(1.0):
            if (err := _runtime(name, ways)) and not said:
                said = err
                log(f"xdpq: {name}: {err}; xdpq stats shows stale transmitter batches")
            for w in ways:
                if change := w.egress_change():
                    log(f"xdpq: {name}: {change}")
            errors = [f"the transmitter stopped: {w.d.tx_error}" for w in ways if w.d.tx_error]
            fault = next((f for link, role in links if (f := link_fault(link, role))),
                         errors[0] if errors else None)
            if fault:
                log(f"xdpq: {name}: {fault}; the deployment stopped (its last statistics: "
                    f"xdpq stats {name}; remove it: xdpq down {name})")
                break
        _sd_notify("STOPPING=1")
        done, ways = ways, []
        final = [w.d.stop() for w in done]
        if fault:
            runtime = registry.read_runtime(name)
            snaps = [report.collect(w.d.obj, prog, runtime if i == 0 else runtime.get(
                registry.REVERSE)) for i, w in enumerate(done)]
            snap = snaps[0]
            if len(snaps) > 1:
                snap[registry.REVERSE] = snaps[1]
            snap["stopped"] = {"fault": fault, "at": datetime.now(UTC).isoformat(
                timespec="seconds")}
            registry.save_final(name, snap)
        for w in done:
            w.d.close()
        return Served(name, [f for f in final if f is not None], fault)
    finally:
        for w in ways:
            w.d.close()
        if previous is not None and not up:
            registry.give_back(previous)  # a failed resume leaves what it found
        elif fault:
            registry.remove_pins(name)
        else:
            registry.remove(name)


@dataclass
class Way:
    """One direction of a running deployment, and whether its egress refused frames
    when last looked at (to say so once, and once when it takes frames again)."""

    d: Deployment
    refusing: bool = False
    # The last reading of in and out, and when: the rate estimator's (see runtime()).
    last: tuple[float, dict[str, dict[str, int]]] | None = None

    def egress_change(self) -> str | None:
        """What changed about the egress since the last look, to log, or None."""
        e = report.egress_state(self.d.obj)
        if e["refusing"] == self.refusing:
            return None
        self.refusing = e["refusing"]
        out = self.d.egress.name
        if self.refusing:
            return (f"egress {out} refuses frames ({e['error']}) since {e['since']}: they are "
                    "counted as drop_xmit (xdpq stats); the deployment goes on and sends "
                    "again when it takes frames")
        return f"egress {out} takes frames again (since {e['last_taken']})"

    def runtime(self) -> dict[str, object]:
        """What runtime.json says of this direction, refreshed about every second: the
        transmitter, the egress, and in and out per second since the last refresh (what
        tc's rate estimator shows)."""
        e = report.egress_state(self.d.obj)
        now, io = time.monotonic(), report.in_out(report.counters(self.d.obj))
        rates = report.rates(io, self.last[1], now - self.last[0]) if self.last else None
        self.last = (now, io)
        return {"tx_calls": self.d.tx_calls, "tx_error": self.d.tx_error,
                "egress_refusing": e["error"] if e["refusing"] else None, "rates": rates}


def _runtime(name: str, ways: list[Way]) -> str | None:
    """Refresh runtime.json (a --both deployment's second direction under "reverse");
    returns why it could not (a full disk costs stale transmitter figures, not the
    deployment)."""
    data = ways[0].runtime()
    if len(ways) > 1:
        data[registry.REVERSE] = ways[1].runtime()
    try:
        registry.write_runtime(name, data)
    except XdpqError as exc:
        return str(exc)
    return None


# -- other processes' view of a running deployment ---------------------------------------


@dataclass
class View:
    """A running deployment seen from another process: its maps through their pins, one
    object per direction (``objs[0]``, ``obj``: the one asked for; ``objs[1]``: the way
    back of a --both deployment)."""

    state: registry.State
    program: ir.Program
    objs: list[BpfObject]

    @property
    def obj(self) -> BpfObject:
        return self.objs[0]

    def set_bql(self, bql: Bql) -> None:
        """Change the BQL mode and limit live (``fixed:0`` holds the scheduler: it queues
        and sends nothing; another setting releases it)."""
        self.check_bql(bql)
        for obj, (_, _, pins) in zip(self.objs, self.state.directions(), strict=True):
            with PinnedProgram(str(pins / "prog_xdpq_release")) as release:
                write_bql(obj, bql, release)

    def set_shaper(self, shaper: Shaper) -> None:
        """Change the link rate (burst, overhead, limit in time) live, of every direction."""
        for obj, (_, _, pins) in zip(self.objs, self.state.directions(), strict=True):
            with PinnedProgram(str(pins / "prog_xdpq_release")) as release:
                write_shaper(obj, shaper, release)

    def check_bql(self, bql: Bql) -> None:
        kinds = (self.state.extra.get("egress_kind", "veth"),
                 self.state.extra.get("ingress_kind", "veth"))
        for (_, egress, _), kind in zip(self.state.directions(), kinds, strict=False):
            check_bql_egress(bql, egress, str(kind))

    def close(self) -> None:
        for obj in self.objs:
            obj.close()

    def __enter__(self) -> View:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_view(name: str) -> View:
    st = registry.load(name)
    if not st.alive():
        raise XdpqError(f"deployment '{name}' is not running (its process {st.pid} is gone): "
                        f"remove what it left with: xdpq down {name}")
    src = st.dir / registry.SOURCE
    text = src.read_text()
    program = check(parse(text, st.file), text)
    view = View(st, program, [])
    try:
        for _, _, pins in st.directions():
            obj = BpfObject(st.dir / registry.OBJECT)
            view.objs.append(obj)
            obj.reuse_pinned_maps(pins)
    except BaseException:
        view.close()
        raise
    return view
