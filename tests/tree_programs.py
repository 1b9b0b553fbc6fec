"""Random scheduling trees as programs, for tests/test_trees.py (kernel against
simulator) and tests/dsl/test_fmt.py (the layout of every new form).

``trees()`` writes a tree of one to four levels of FIFO, PIFO and rbtree queues
(rbtrees at the leaves, arrays of them too), some PIFOs with fixed windows;
arrays that fan out or stand one under each parent; a second child under the
top or a second top-level queue; and a program
over it: ranks from packet fields and state, eligibility times on the real
clock or on a virtual clock on random levels, token buckets on random nodes
(leaf or parent, single or in an array), signed state, AQM drops, paths read
in ``on dequeue``.
"""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import strategies as st

# Expressions by where they may stand (all counts).
PACKET_RANKS = ["n", "n % 5", "pkt.len / 100B", "ip.dscp", "l4.sport % 8", "0", "n / 3",
                "flow.seen", "max(c / 3, 0) % 50"]
STATE_RANKS = ["n", "n % 4", "0", "m"]
INDICES = ["l4.sport", "ip.dscp", "l4.dport", "hash(ip.src, l4.sport)", "n"]
REAL_AT = ["now + (n % 3) * 10us", "now + 50us", "now", "now + pkt.len / 1B * 100ns"]
READY_AT = ["now + (n % 3) * 10us", "now + 20us", "now"]


@dataclass(frozen=True)
class Level:
    kind: str
    fan: int  # queues under each queue of the level above; 0: one each (same shape)
    range: int
    capacity: int
    clock: bool  # entries of this level wait on a virtual clock
    at: str | None  # eligibility of this level's entries
    rank: str  # ranks of this level's packets (a leaf)
    token: str  # and of its queues' tokens in the level above
    ready: bool  # it has a ready hook of its own (else rank 0)
    shaped: bool  # its token is held to a rate (a token bucket in its own state)


LEAVES = ("fifo", "pifo", "pifo", "rbtree")


def _level(draw: st.DrawFn, leaf: bool, top: bool, fans: list[int],
           leaves: tuple[str, ...]) -> Level:
    kind = draw(st.sampled_from(leaves if leaf else ["fifo", "pifo", "pifo"]))
    clock = kind != "rbtree" and draw(st.booleans()) and draw(st.booleans())
    if clock:
        at = draw(st.sampled_from(["CLOCK", "CLOCK + n % 4", "CLOCK + 2"]))
    else:
        at = draw(st.one_of(st.none(), st.sampled_from(REAL_AT if leaf else READY_AT)))
    return Level(kind=kind, fan=0 if top else draw(st.sampled_from(fans)),
                 range=draw(st.sampled_from([64, 64, 128, 1024])),
                 capacity=draw(st.sampled_from([3, 8, 100])), clock=clock, at=at,
                 rank=draw(st.sampled_from(PACKET_RANKS)),
                 token=draw(st.sampled_from(STATE_RANKS)), ready=draw(st.booleans()),
                 shaped=not top and draw(st.booleans()))


@st.composite
def trees(draw: st.DrawFn, depths: tuple[int, int] = (1, 4),
          fans: tuple[int, ...] = (0, 1, 2, 3, 4), leaves: tuple[str, ...] = LEAVES) -> str:
    """A tree of ``depths`` levels whose arrays fan out by one of ``fans`` (0: one
    queue under each queue of the level above) and whose leaves are of a kind of
    ``leaves`` (an array of rbtrees too)."""
    depth = draw(st.integers(*depths))
    levels = [_level(draw, leaf=d == depth - 1, top=d == 0, fans=list(fans), leaves=leaves)
              for d in range(depth)]
    side = draw(st.sampled_from(["none", "top", "child"])) if depth > 1 else "none"
    names = [f"q{d}" for d in range(depth)]  # (l4 would be the packet's)
    shapes: list[list[int]] = [[]]
    for lv in levels[1:]:
        shapes.append(shapes[-1] + ([lv.fan] if lv.fan else []))
    clocks = [f"v{d}" for d, lv in enumerate(levels) if lv.clock]
    out = ["scheduler tree"]
    if side == "top":
        out.append("queue side: fifo(capacity = 8)")
    for d, (lv, name) in enumerate(zip(levels, names, strict=True)):
        args = [f"capacity = {lv.capacity}"] if d == depth - 1 else []
        if lv.kind == "pifo":
            args.append(f"range = {lv.range}" + (", base = 2" if lv.range == 128 else ""))
        if lv.clock:
            args.append(f"clock = v{d}")
        children = [names[d + 1]] if d + 1 < depth else []
        if d == 0 and side == "child":
            children.append("side")
        dims = "".join(f"[{n}]" for n in shapes[d])
        of = f" of {', '.join(children)}" if children else ""
        out.append(f"queue {name}{dims}: {lv.kind}({', '.join(args)}){of}")
    if side == "child":
        out.append("queue side: fifo(capacity = 8)")
    out.append("state global { n: count = 0 }")
    out.append("state global { m: count = 0 }")
    out.append("state global { c: signed count = -3 }")
    for c in clocks:
        out.append(f"state global {{ {c}: count = 0 }}")
    out.append("state per flow(ip.src, l4.sport) { seen: count = 0 }")
    # A shaped level's bucket (GCRA at 100Mbit, 30us of burst): its theoretical
    # arrival time, per queue of the level, or one for a single queue.
    shaped = [d > 0 and lv.shaped and not levels[d - 1].clock for d, lv in enumerate(levels)]
    tat = {}
    for d, on in enumerate(shaped):
        if not on:
            continue
        if shapes[d]:
            out.append(f"state per {names[d]} {{ tat: time = 0 }}")
        else:
            out.append(f"state global {{ tat{d}: time = 0 }}")
        # its queue in a ready hook (the hook's indices) and on dequeue (the packet's way)
        dims = [k for k in range(1, d + 1) if levels[k].fan]
        tat[d] = (names[d] + "".join(f"[i{j}]" for j in range(len(dims))) + ".tat"
                  if dims else f"tat{d}",
                  names[d] + "".join(f"[p.{names[k]}.index]" for k in dims) + ".tat"
                  if dims else f"tat{d}")
    leaf = levels[-1]
    index = "".join(f"[{draw(st.sampled_from(INDICES))}]" for _ in shapes[-1])
    at = f" at {leaf.at}".replace("CLOCK", f"v{depth - 1}") if leaf.at else ""
    body = ["  n = n + 1", "  flow.seen = flow.seen + 1", "  c = c - ip.dscp + l4.sport % 7"]
    if draw(st.booleans()):
        body.append("  if ip.dscp == 46 and n % 3 == 0 {\n    drop noisy\n  }")
    if draw(st.booleans()):
        body.append("  if c / 3 < -40 and c % 4 != -1 {\n    c = c + 20\n    drop debt\n  }")
    if side != "none":
        body.append("  if ip.dscp >= 40 {\n    enqueue side rank n\n  }")
    body.append(f"  enqueue {names[-1]}{index} rank {leaf.rank}{at}")
    out.append("on enqueue {\n" + "\n".join(body) + "\n}")
    for d in range(1, depth):
        parent, lv = levels[d - 1], levels[d]
        if not lv.ready and not parent.at and not shaped[d]:
            continue
        params = ", ".join(f"i{k}" for k in range(len(shapes[d])))
        head = f"on ready {names[d]}({params})" if params else f"on ready {names[d]}"
        rank = lv.token
        at = f" at {parent.at}".replace("CLOCK", f"v{d - 1}") if parent.at else ""
        if shaped[d]:
            at = f" at max({tat[d][0]}, 30us) - 30us"
        out.append(f"{head} {{\n  enqueue {names[d - 1]} rank {rank}{at}\n}}")
    deq = ["  m = m + p.len / 500B + max(c % 5, 0)", "  c = min(c + p.len / 100B, 30)"]
    for d, lv in enumerate(levels):
        if lv.clock:
            deq.append(f"  v{d} = max(v{d} + 1, p.{names[d]}.rank % 7)")
    if depth > 1:
        deq.append(f"  m = m + p.{names[-1]}.index + p.{names[0]}.rank % 3")
    for _, there in tat.values():
        deq.append(f"  {there} = max({there}, now) + p.len / 100Mbit")
    if draw(st.booleans()):
        deq.append("  if p.len > 1400B and n % 4 == 0 {\n    drop aqm\n  }")
    out.append("on dequeue(p) {\n" + "\n".join(deq) + "\n}")
    return "\n".join(out) + "\n"
