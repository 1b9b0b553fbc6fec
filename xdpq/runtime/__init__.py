"""Deploy and run schedulers: load, configure, attach, transmit, observe."""
