"""``xdpq demo``: one workload through the simulator and through the kernel, side by side.

The workload is a standing backlog: every flow's packets are queued while the
deployed scheduler is held (a BQL limit of zero), then the limit is lifted
and the scheduler alone decides the order in which the backlog leaves. The
simulator gets the same packets, all queued at time 0, on a link as fast as
the kernel's drain was. Shares are measured while every flow still had
packets waiting (the *contended window*), latencies from the release.
"""
