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

What xdpq compiles is cached in ``~/.cache/xdpq`` (or ``XDPQ_CACHE``), and
matplotlib keeps its own cache under ``~/.config``. Where those cannot be
written (a ``HOME`` that is not the user's, e.g. ``setpriv`` keeping
``HOME=/root``), a temporary directory serves instead, said in one line.
"""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from functools import cache
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


def _writable(path: Path) -> str:
    """Why ``path`` cannot hold a cache ("" when it can), making it if need be."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return exc.strerror or str(exc)
    return "" if os.access(path, os.W_OK | os.X_OK) else "not writable"


def _temporary(whose: str, wanted: Path, why: str, setting: str) -> Path:
    """A directory for this process and the ones it starts (``setting`` names it for
    them), removed at exit; said once."""
    tmp = Path(tempfile.mkdtemp(prefix=f"{whose}-cache-"))
    atexit.register(shutil.rmtree, tmp, ignore_errors=True)
    os.environ[setting] = str(tmp)
    print(f"xdpq: cannot use {wanted} for {whose}'s cache ({why}); using {tmp} until exit "
          f"(set {setting} to keep one)", file=sys.stderr)
    return tmp


def cache_dir() -> Path:
    """Where compiled objects and ``vmlinux.h`` are kept: ``$XDPQ_CACHE``, else
    ``~/.cache/xdpq``, else (not writable) a temporary directory, said once."""
    return _cache_at(os.environ.get("XDPQ_CACHE") or str(Path.home() / ".cache" / "xdpq"))


@cache
def _cache_at(wanted: str) -> Path:
    why = _writable(Path(wanted))
    return _temporary("xdpq", Path(wanted), why, "XDPQ_CACHE") if why else Path(wanted)


def matplotlib_config() -> None:
    """Call before matplotlib is imported: where its configuration directory cannot be
    written, point ``MPLCONFIGDIR`` at a temporary one (said once), rather than let
    matplotlib warn at every start."""
    if os.environ.get("MPLCONFIGDIR"):
        return
    base = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    wanted = Path(base) / "matplotlib"
    why = _writable(wanted)
    if why:
        _temporary("matplotlib", wanted, why, "MPLCONFIGDIR")
