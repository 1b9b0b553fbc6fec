"""Reference models of the queue maps, written from their documented semantics.

The simulator runs schedulers over these; the tests prove kern/ behaves the same.
"""

from xdpq.queues.base import RANK_MAX, Enq, Entry, Queue
from xdpq.queues.fifo import Fifo
from xdpq.queues.pifo import Pifo
from xdpq.queues.rbtree import RBTree

__all__ = ["RANK_MAX", "Enq", "Entry", "Fifo", "Pifo", "Queue", "RBTree"]
