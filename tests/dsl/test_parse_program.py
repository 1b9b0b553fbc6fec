"""A whole program parses into the syntax tree it says, with spans."""

from __future__ import annotations

from xdpq.dsl import ast, parse

STFQ = """\
scheduler stfq
# start-time fair queueing with a weight per flow
param weight: count = 1 in 1..1000
queue q: pifo(range = 64Ki, capacity = 10000)
queue fq[1024]: fifo(capacity = 128)
state global { vtime: time = 0 }
state per flow(ip.src, ip.dst, l4.sport, l4.dport, ip.proto) { finish: time = 0 }
on enqueue {
  let start = max(vtime, flow.finish)
  flow.finish = start + pkt.len / weight
  if pkt.len > 1500B and not ip.dscp == 46 { drop too_big } else if ip.ecn == 3 { pass }
  enqueue q rank start at now + 5ms
}
on dequeue(p) { vtime = p.rank }
"""


def test_declarations() -> None:
    p = parse(STFQ, "stfq.xdpq")
    assert p.name == "stfq"
    (weight,) = p.params
    assert (weight.name, weight.type) == ("weight", "count")
    assert isinstance(weight.low, ast.Number) and weight.low.text == "1"
    assert [(q.name, q.kind) for q in p.queues] == [("q", "pifo"), ("fq", "fifo")]
    assert [a.name for a in p.queues[0].args] == ["range", "capacity"]
    assert p.queues[0].args[0].value == ast.Number("64Ki", p.queues[0].args[0].value.span)
    (size,) = p.queues[1].dims
    assert isinstance(size, ast.Number) and size.text == "1024"
    glob, flow = p.states
    assert isinstance(glob.scope, ast.GlobalScope)
    assert isinstance(flow.scope, ast.FlowScope)
    assert [k.parts for k in flow.scope.key][-1] == ("ip", "proto")
    assert [h.event for h in p.hooks] == ["enqueue", "dequeue"]
    assert p.hooks[1].params == ("p",)


def test_statements_and_precedence() -> None:
    body = parse(STFQ, "stfq.xdpq").hooks[0].body
    let, assign, cond, enq = body
    assert isinstance(let, ast.Let) and isinstance(let.value, ast.Call)
    assert let.value.func == "max" and len(let.value.args) == 2
    # start + (pkt.len / weight): '/' binds tighter than '+'
    assert isinstance(assign.value, ast.Binary) and assign.value.op == "+"
    assert assign.value.right.op == "/"
    assert isinstance(cond, ast.If) and cond.cond.op == "and"
    assert isinstance(cond.cond.right, ast.Unary) and cond.cond.right.op == "not"
    assert isinstance(cond.then[0], ast.Drop) and cond.then[0].reason == "too_big"
    assert isinstance(cond.orelse[0], ast.If)  # else if
    assert isinstance(enq, ast.Enqueue) and enq.queue == "q"
    assert isinstance(enq.at, ast.Binary) and enq.at.right.text == "5ms"


def test_spans_point_at_the_source() -> None:
    assign = parse(STFQ, "stfq.xdpq").hooks[0].body[1]
    assert (assign.span.line, assign.span.column) == (10, 3)
    assert (assign.value.span.line, assign.value.span.column) == (10, 17)
    assert str(assign.span) == "stfq.xdpq:10:3"
