"""The typed intermediate form of a scheduler: the one input of both back ends.

Every value is an unsigned 64-bit integer in its kind's canonical unit (time
in ns, sizes in bytes, rates in bit/s; true is 1). Units are gone: the
checker lowered ``bytes / rate`` into ``bytes * 8e9 / rate`` and so on, so a
back end only has to implement the arithmetic below, with its rules:

- ``+ - *`` wrap modulo 2^64;
- ``a / 0`` is 0 and ``a % 0`` is a (BPF's own rule);
- comparisons and ``and or not`` give 0 or 1;
- a value that may be below 0 (``signed``) is the same 64 bits in two's
  complement: ``+ - *`` are the same; its comparisons, ``min``/``max``, ``/``
  (rounded towards 0) and ``%`` (with the sign of the dividend) are signed
  where the IR node says ``signed``;
- ``sqrt(x)`` is the integer square root, rounded down;
- ``hash(...)`` is MurmurHash3_x86_32 (seed 0) over one 32-bit word per
  number and four big-endian words per address;
- an index into an array of N queues, states or parameter values is taken
  modulo N (each dimension of a queue array by its own size).
"""

from xdpq.ir.nodes import (
    Arith,
    Attr,
    Cmp,
    Const,
    DeqField,
    Drop,
    Enqueue,
    Expr,
    Field,
    FlowVar,
    Global,
    Hash,
    Hook,
    If,
    Let,
    LinkRate,
    Local,
    Logic,
    Mark,
    MinMax,
    Not,
    Now,
    Param,
    ParamRef,
    Pass,
    PathField,
    Program,
    QState,
    Queue,
    Sqrt,
    Stmt,
    Store,
    Var,
)

__all__ = [
    "Arith", "Attr", "Cmp", "Const", "DeqField", "Drop", "Enqueue", "Expr", "Field", "FlowVar",
    "Global", "Hash", "Hook", "If", "Let", "LinkRate", "Local", "Logic", "Mark", "MinMax", "Not",
    "Now", "Param", "ParamRef", "Pass", "PathField", "Program", "QState", "Queue", "Sqrt", "Stmt",
    "Store", "Var",
]
