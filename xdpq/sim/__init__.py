"""The discrete-event simulator: the same schedulers, offline."""
