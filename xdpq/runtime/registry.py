"""Where running deployments are recorded, so that other verbs find them by name.

Each deployment NAME has

- a state directory ``/run/xdpq/NAME/`` (mode 0700) holding ``state.json``
  (mode 0600: name, file, interfaces, parameters, BQL, pid, start time), a
  copy of the program's source and of its object (what ``stats`` and ``set``
  read the layout from, even if the file changed since), ``runtime.json``
  (what only the deploying process knows, such as its transmitter's call
  count, refreshed every second) and ``log`` (a detached process's output);
- a pin directory ``/sys/fs/bpf/xdpq/NAME/`` (mode 0700) with every map of
  the object pinned (mode 0600). A deployment of both directions (``deploy
  --both``) is one name, one process and one state; its second direction (the
  egress's traffic back into the ingress) runs a second copy of the object,
  whose maps are pinned in ``NAME/reverse/``.

The deploying process creates both and removes both when it stops. Creating
the state directory (``mkdir``, atomic) is what claims a name. Links are not
pinned: the ingress program and the tracepoints stay attached only as long
as the deploying process lives, and a process killed with SIGKILL leaves
nothing attached, only these records and its maps (with what was queued),
which a deploy of the same program on the same interfaces resumes
(``take_over``) and ``xdpq down NAME`` removes. A deployment stopped by a
fault (its egress went down or away) removes its pins but keeps its records
and ``final.json``, its last statistics, until ``xdpq down NAME`` or a new
deploy of that name.

``XDPQ_RUN_DIR`` and ``XDPQ_PIN_DIR`` move the two roots (tests use that to
keep out of the way of real deployments).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from xdpq.errors import XdpqError
from xdpq.net.host import BPFFS

NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,31}")
STATE = "state.json"
RUNTIME = "runtime.json"
SOURCE = "scheduler.xdpq"
OBJECT = "scheduler.o"
LOG = "log"
FINAL = "final.json"
REVERSE = "reverse"  # the pin subdirectory of a --both deployment's second direction


def run_root() -> Path:
    return Path(os.environ.get("XDPQ_RUN_DIR", "/run/xdpq"))


def pin_root() -> Path:
    return Path(os.environ.get("XDPQ_PIN_DIR", str(BPFFS / "xdpq")))


def state_dir(name: str) -> Path:
    return run_root() / name


def pin_dir(name: str) -> Path:
    return pin_root() / name


def check_name(name: str) -> str:
    if not NAME_RE.fullmatch(name):
        raise XdpqError(
            f"'{name}' cannot name a deployment: use 1 to 32 letters, digits, '-' or '_' "
            "(starting with a letter or digit), e.g. --name stfq-eth1")
    return name


@dataclass
class State:
    name: str
    file: str  # the program as given (absolute path)
    program: str  # its scheduler name
    ingress: str
    egress: str
    netns: str  # the network namespace's name under /run/netns, "" for the caller's
    netns_inode: int  # identifies the namespace (interface names are per namespace)
    params: dict[str, str]  # every parameter, as a user writes it
    bql: str
    pid: int
    pid_start: int  # the process's start time (/proc/PID/stat), against pid reuse
    started: str  # ISO 8601, UTC
    detached: bool
    extra: dict[str, object] = field(default_factory=dict)
    both: bool = False  # also egress → ingress, with a second copy of the program
    unclaimed: str = "forward"  # where frames the scheduler does not claim go

    @property
    def dir(self) -> Path:
        return state_dir(self.name)

    @property
    def pins(self) -> Path:
        return pin_dir(self.name)

    def alive(self) -> bool:
        return process_start(self.pid) == self.pid_start

    def interfaces(self) -> set[tuple[int, str]]:
        return {(self.netns_inode, self.ingress), (self.netns_inode, self.egress)}

    def directions(self) -> list[tuple[str, str, Path]]:
        """(ingress, egress, pin directory) of each direction, the one deployed first
        first."""
        out = [(self.ingress, self.egress, self.pins)]
        if self.both:
            out.append((self.egress, self.ingress, self.pins / REVERSE))
        return out

    def arrow(self) -> str:
        return f"{self.ingress} {'⇄' if self.both else '→'} {self.egress}"


def process_start(pid: int) -> int | None:
    """The start time of process ``pid`` in clock ticks since boot; None if it is gone
    (or a zombie: exited, not yet reaped)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rpartition(")")[2].split()
    if fields[0] in ("Z", "X"):
        return None
    return int(fields[19])


def _write_private(path: Path, text: str) -> None:
    """Write ``path`` (mode 0600) atomically: readers see the old or the new text."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise cannot_write(path, exc) from None


def cannot_write(path: Path, exc: OSError) -> XdpqError:
    """A clear error for a record or pin xdpq could not write (full disk, read-only)."""
    hint = {errno.ENOSPC: f"the file system of {path.parent} is full: free some space",
            errno.EDQUOT: f"the disk quota of {path.parent} is used up",
            errno.EROFS: f"{path.parent} is on a read-only file system: remount it "
                         "read-write"}.get(exc.errno or 0, "check the file system")
    root = "XDPQ_PIN_DIR" if str(path).startswith(str(pin_root())) else "XDPQ_RUN_DIR"
    return XdpqError(f"cannot write {path}: {exc.strerror}; {hint} (or move xdpq's records "
                     f"with {root}=DIR)")


def _root_access(path: Path, exc: OSError) -> XdpqError:
    return XdpqError(f"cannot use {path}: {exc.strerror}; xdpq keeps its deployments "
                     "there for root only: run as root (e.g. with sudo)")


def claim(name: str) -> Path:
    """Create NAME's state directory, or refuse: the name is taken."""
    check_name(name)
    root = run_root()
    try:
        for _ in range(2):  # a down of the last other deployment may remove the root between
            root.mkdir(mode=0o700, parents=True, exist_ok=True)
            try:
                os.mkdir(state_dir(name), 0o700)
                break
            except FileNotFoundError:
                continue
    except FileExistsError:
        raise name_taken(name) from None
    except PermissionError as exc:
        raise _root_access(root, exc) from None
    except OSError as exc:
        raise cannot_write(state_dir(name), exc) from None
    return state_dir(name)


def take_over(st: State) -> Path:
    """Claim the records of ``st``, whose process is gone, to resume it: one process
    wins (an exclusive create of a marker that ``remove`` takes away)."""
    marker = st.dir / f".taken-from-{st.pid}"
    try:
        os.close(os.open(marker, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600))
    except FileExistsError:
        raise XdpqError(f"deployment '{st.name}' is being resumed by another process") from None
    except OSError as exc:
        raise cannot_write(marker, exc) from None
    return st.dir


def give_back(st: State) -> None:
    """A resume failed: leave the records as they were found."""
    (st.dir / f".taken-from-{st.pid}").unlink(missing_ok=True)


def pinned(name: str) -> bool:
    """Whether NAME's maps are pinned (a deployment whose process died keeps them)."""
    d = pin_dir(name)
    return d.is_dir() and any(p for p in d.iterdir() if not p.name.startswith("prog_"))


def _remove_dir(d: Path) -> None:
    """A state or pin directory, its files and (the reverse direction's pins) the
    directories in it."""
    for f in d.iterdir():
        if f.is_dir() and not f.is_symlink():
            _remove_dir(f)
        else:
            f.unlink(missing_ok=True)
    d.rmdir()


def remove_pins(name: str) -> None:
    d = pin_dir(name)
    if d.is_dir():
        _remove_dir(d)
    _remove_root(pin_root())


def save_final(name: str, data: dict[str, object]) -> None:
    """The last statistics of a deployment that stopped on a fault, for ``xdpq stats``."""
    _write_private(state_dir(name) / FINAL, json.dumps(data, indent=2) + "\n")


def read_final(name: str) -> dict[str, Any] | None:
    try:
        return json.loads((state_dir(name) / FINAL).read_text())
    except (OSError, ValueError):
        return None


def name_taken(name: str) -> XdpqError:
    try:
        st = load(name)
    except XdpqError:
        return XdpqError(f"a deployment named '{name}' exists (it is starting, or its records "
                         f"are damaged): pick another --name, or remove it: xdpq down {name}")
    if st.alive():
        return XdpqError(
            f"a deployment named '{name}' is running ({st.program} on {st.arrow()} "
            f"since {st.started}): pick another --name, or take it down first: "
            f"xdpq down {name}")
    return XdpqError(f"a deployment named '{name}' ({st.program} on {st.arrow()}) was "
                     f"left behind by process {st.pid}, which is gone, with "
                     "what it had queued: deploy the same program on the same interfaces to "
                     f"resume it, or drop it: xdpq down {name}")


def save(st: State) -> None:
    _write_private(st.dir / STATE, json.dumps(asdict(st), indent=2) + "\n")


def load(name: str) -> State:
    check_name(name)
    path = state_dir(name) / STATE
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        if state_dir(name).is_dir():
            raise XdpqError(f"deployment '{name}' has no state file yet (still starting, or "
                            f"it failed): remove it with: xdpq down {name}") from None
        known = names()
        raise XdpqError(f"no deployment named '{name}'"
                        + (f" (running: {', '.join(known)})" if known else
                           " (none is running; start one with xdpq deploy)")) from None
    except PermissionError as exc:
        raise _root_access(path, exc) from None
    except (OSError, ValueError) as exc:
        raise XdpqError(f"the state of deployment '{name}' ({path}) cannot be read: {exc}; "
                        f"remove it with: xdpq down {name}") from None
    try:
        return State(**data)
    except TypeError as exc:
        raise XdpqError(f"the state of deployment '{name}' ({path}) is not one this xdpq "
                        f"writes ({exc}); remove it with: xdpq down {name}") from None


def names() -> list[str]:
    """Names with a state directory, whatever their condition."""
    root = run_root()
    try:
        return sorted(p.name for p in root.iterdir() if p.is_dir() and NAME_RE.fullmatch(p.name))
    except FileNotFoundError:
        return []
    except PermissionError as exc:
        raise _root_access(root, exc) from None


def all_states() -> list[State]:
    out = []
    for name in names():
        try:
            out.append(load(name))
        except XdpqError:
            continue
    return out


def write_runtime(name: str, data: dict[str, object]) -> None:
    _write_private(state_dir(name) / RUNTIME, json.dumps({**data, "updated": time.time()}))


def read_runtime(name: str) -> dict[str, object]:
    try:
        return json.loads((state_dir(name) / RUNTIME).read_text())
    except (OSError, ValueError):
        return {}


def remove(name: str) -> list[str]:
    """Remove NAME's pins and state; returns what was removed (for a report)."""
    check_name(name)
    gone = []
    for d in (pin_dir(name), state_dir(name)):
        if d.is_dir():
            _remove_dir(d)
            gone.append(str(d))
        elif d.exists():
            shutil.rmtree(d, ignore_errors=True)
    _remove_root(pin_root())
    _remove_root(run_root())
    return gone


def _remove_root(root: Path) -> None:
    """The registry's root once its last deployment is gone, so that ``down`` leaves
    nothing behind; kept while another deployment has a directory in it."""
    with contextlib.suppress(OSError):
        root.rmdir()


def leftovers(name: str) -> list[str]:
    """What exists of NAME (empty when nothing does)."""
    found = []
    for path in (pin_dir(name), state_dir(name)):
        try:
            path.stat()
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise _root_access(path, exc) from None
        found.append(str(path))
    return found
