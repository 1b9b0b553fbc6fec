"""The BQL setting of a deployment: ``adaptive``, ``fixed:BYTES`` or ``off``."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from xdpq.errors import XdpqError


class BqlMode(IntEnum):
    """Values of ``xdpq_bql_mode`` in kern/datapath.h."""

    OFF = 0
    FIXED = 1
    ADAPTIVE = 2


@dataclass(frozen=True, slots=True)
class Bql:
    mode: BqlMode = BqlMode.ADAPTIVE
    limit: int = 64 * 1024  # bytes: the fixed limit, or where adaptive starts

    @classmethod
    def parse(cls, text: str) -> Bql:
        match text.split(":", 1):
            case ["adaptive"]:
                return cls(BqlMode.ADAPTIVE)
            case ["off"]:
                return cls(BqlMode.OFF)
            case ["fixed", n] if n.isdigit():
                return cls(BqlMode.FIXED, int(n))
        raise XdpqError(f"--bql {text!r}: expected adaptive, off or fixed:BYTES (e.g. fixed:30000)")

    @classmethod
    def hold(cls) -> Bql:
        """A fixed limit of zero: the scheduler queues but sends nothing."""
        return cls(BqlMode.FIXED, 0)
