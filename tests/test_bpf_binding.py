"""The libbpf binding: maps, global data, BPF_PROG_RUN, ring buffers, links,
and the errors a person sees when clang or the verifier says no."""

from __future__ import annotations

import select
import shutil
import struct
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import REPO
from xdpq.bpf import BpfObject, RingBuffer, compile_bpf, xdp_ctx
from xdpq.bpf.maps import u32, u64
from xdpq.bpf.program import XDP_PASS
from xdpq.errors import BuildError, LoadError, XdpqError

pytestmark = pytest.mark.kernel

FRAME = bytes(64)


@pytest.fixture
def obj() -> Iterator[BpfObject]:
    with BpfObject(compile_bpf(REPO / "kern/test/binding_test.bpf.c")) as o:
        o.section(".rodata")["test_step"] = 7
        o.load()
        yield o


def test_prog_run_maps_and_global_data(obj: BpfObject) -> None:
    obj.map("test_hash").update(u32(len(FRAME)), u64(0))
    res = obj.prog("binding_test").run(FRAME, ctx=xdp_ctx(len(FRAME)), repeat=5)
    assert res.retval == XDP_PASS
    assert res.data == FRAME
    assert obj.section(".bss")["test_runs"] == 5
    assert obj.section(".data")["test_total"] == 1000 + 5 * 7  # .rodata was set before load
    assert obj.section(".rodata")["test_step"] == 7
    assert obj.map("test_hash").lookup(u32(len(FRAME))) == u64(5)
    assert dict(obj.map("test_hash").items()) == {u32(64): u64(5)}
    assert obj.map("test_hash").delete(u32(64)) is True
    assert obj.map("test_hash").lookup(u32(64)) is None
    per_cpu = obj.map("test_percpu").lookup_percpu(u32(0))
    assert sum(struct.unpack("=Q", v)[0] for v in per_cpu) == 5
    obj.section(".bss")["test_runs"] = 0  # writes reach the kernel's copy
    obj.prog("binding_test").run(FRAME, ctx=xdp_ctx(len(FRAME)))
    assert obj.section(".bss")["test_runs"] == 1


def test_ring_buffer_wakes_a_poller(obj: BpfObject) -> None:
    got: list[bytes] = []
    with RingBuffer(obj.map("test_events"), got.append) as rb:
        poller = select.poll()
        poller.register(rb.fd, select.POLLIN)
        assert poller.poll(0) == []  # nothing yet: the fd does not wake
        obj.prog("binding_test").run(FRAME, ctx=xdp_ctx(len(FRAME)), repeat=3)
        assert poller.poll(1000)
        assert rb.consume() == 3
    assert got == [u32(64)] * 3


@pytest.fixture
def veth() -> Iterator[tuple[str, int]]:
    name = f"xqt{uuid.uuid4().hex[:8]}"
    subprocess.run(["ip", "link", "add", name, "type", "veth", "peer", "name", name + "p"],
                   check=True)
    try:
        subprocess.run(["ip", "link", "set", name, "up"], check=True)
        yield name, int(Path(f"/sys/class/net/{name}/ifindex").read_text())
    finally:
        subprocess.run(["ip", "link", "del", name], check=False)


def test_xdp_link_attaches_and_detaches(obj: BpfObject, veth: tuple[str, int]) -> None:
    name, ifindex = veth

    def has_xdp() -> bool:
        out = subprocess.run(["ip", "-d", "link", "show", name], capture_output=True, text=True)
        return "prog/xdp" in out.stdout

    with obj.prog("binding_test").attach_xdp(ifindex):
        assert has_xdp()
    assert not has_xdp()


def test_verifier_rejection_names_reason_and_source_line(tmp_path: Path) -> None:
    src = tmp_path / "oob.bpf.c"
    src.write_text(
        '#include "xdpq_defs.h"\n'
        'SEC("xdp")\n'
        "int oob(struct xdp_md *ctx)\n"
        "{\n"
        "\tunsigned char *p = (void *)(long)ctx->data;\n"
        "\treturn p[100];\n"
        "}\n"
        'char LICENSE[] SEC("license") = "GPL";\n'
    )
    with BpfObject(compile_bpf(src)) as o, pytest.raises(LoadError) as err:
        o.load()
    msg = str(err.value)
    assert "the verifier rejected program 'oob'" in msg
    assert "invalid access to packet" in msg
    assert "oob.bpf.c:6: return p[100];" in msg
    assert len(msg.splitlines()) <= 4, "the message is a summary, not the log"
    assert "processed" in err.value.log  # the whole log stays available


def test_compile_error_shows_file_line_and_message(tmp_path: Path) -> None:
    src = tmp_path / "broken.bpf.c"
    src.write_text('#include "xdpq_defs.h"\nint f(void) { return undefined_name; }\n')
    with pytest.raises(BuildError) as err:
        compile_bpf(src)
    assert f"{src}:2:22: use of undeclared identifier 'undefined_name'" in str(err.value)


def test_xdpq_kern_dir_names_the_runtime_to_compile_against(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kern = tmp_path / "kern"
    shutil.copytree(REPO / "kern", kern)
    defs = kern / "xdpq_defs.h"
    defs.write_text(defs.read_text() + "\n#define XDPQ_THE_COPY 1\n")
    src = tmp_path / "which.bpf.c"
    src.write_text('#include "xdpq_defs.h"\n#ifndef XDPQ_THE_COPY\n#error not the copy\n#endif\n')
    monkeypatch.delenv("XDPQ_KERN_DIR", raising=False)
    with pytest.raises(BuildError, match="not the copy"):
        compile_bpf(src)
    monkeypatch.setenv("XDPQ_KERN_DIR", str(kern))
    assert compile_bpf(src).is_file()
    monkeypatch.setenv("XDPQ_KERN_DIR", str(tmp_path / "absent"))
    with pytest.raises(XdpqError, match=r"XDPQ_KERN_DIR=.*absent is not a directory"):
        compile_bpf(src)


def test_missing_object_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(LoadError, match="cannot open BPF object"):
        BpfObject(tmp_path / "absent.o")
