"""Where xdpq's own C and scheduler files are, in a checkout and when installed.

The BPF C runtime (``kern/``) and the scheduler library (``schedulers/``) live
at the top of the repository, beside the package, and a checkout (or an
editable install of one) reads them there. A wheel carries them inside the
package instead, as ``xdpq/kern/`` and ``xdpq/schedulers/`` (``setup.py``
copies them in when it builds one), so an installed xdpq finds them wherever
it was installed. ``XDPQ_KERN_DIR`` names another ``kern/`` to compile
against, a copy being worked on, say.

Files that belong to one module sit next to it and are read as package data
(``xdpq/runtime/txloop.c``, ``xdpq/dsl/grammar.lark``, ``xdpq/sim/data/``).
"""

from __future__ import annotations

import os
from pathlib import Path

from xdpq.errors import XdpqError

_PACKAGE = Path(__file__).resolve().parent


def _tree(name: str) -> Path:
    """``name`` inside the package (an installed wheel), else beside it (a checkout)."""
    inside, beside = _PACKAGE / name, _PACKAGE.parent / name
    for tree in (inside, beside):
        if tree.is_dir():
            return tree
    raise XdpqError(f"xdpq's {name}/ is missing: neither {inside} nor {beside} exists "
                    "(reinstall xdpq)")


def kern_dir() -> Path:
    """The BPF C runtime: ``$XDPQ_KERN_DIR`` when set, else the one shipped with xdpq."""
    given = os.environ.get("XDPQ_KERN_DIR")
    if not given:
        return _tree("kern")
    if not Path(given).is_dir():
        raise XdpqError(f"XDPQ_KERN_DIR={given} is not a directory")
    return Path(given)


def schedulers_dir() -> Path:
    """The scheduler library, one ``.xdpq`` file each."""
    return _tree("schedulers")
