"""Back ends of the language: BPF C (``c``) and the objects built from it (``build``)."""
