"""Helpers for xdpq's tests and benchmarks, shipped with the package as
``numpy.testing`` is: test frames built with ``struct`` (:mod:`.frames`), a
scheduler object run one packet and one step at a time on a virtual clock
(:mod:`.stepper`), the malformed-frame corpus and its checker
(:mod:`.malformed`), the concurrent enqueue/dequeue stress with its
accounting (:mod:`.stress`), plain XDP forwarding on a test bed
(:mod:`.forward`) and the benchmarks' ``--only`` and targets
(:mod:`.targets`).

The package proper never imports from here.
"""
