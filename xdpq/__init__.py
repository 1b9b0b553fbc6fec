"""xdpq: write a packet scheduler, simulate it offline, deploy it into XDP."""

__version__ = "0.1.0"
