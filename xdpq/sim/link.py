"""The egress model: a device queue drained at the link rate, and BQL over it.

Mirrors kern/datapath.h: the scheduler moves packets into the device while
the bytes in flight stay under the limit; the device serializes them one at
a time at the link rate; a packet's completion (the end of its serialization)
retires its bytes, may adapt the limit, and lets the scheduler run again.
The adaptive rule is the kernel's: grow by what completed when the device
ran dry while the scheduler was stopped on the limit; over a hold period in
which the limit never stopped the scheduler, shrink to the peak in flight.
The limit stays within ``BQL_MIN``..``BQL_MAX``.

The rule runs inline in the loop of ``xdpq.sim.run`` (it is on every
packet's path); this module holds its constants.
"""

from __future__ import annotations

BQL_MIN, BQL_MAX, BQL_HOLD_NS = 1514, 4 * 1024 * 1024, 1_000_000
NS_BITS = 8 * 1_000_000_000  # a byte's bits, times nanoseconds per second

