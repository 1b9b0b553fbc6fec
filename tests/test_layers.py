"""The package's layers hold: no import goes up a layer or across one.

The rule is the table in docs/architecture.md; the imports are read from the
code (every ``import`` and ``from … import`` of ``xdpq``, at any depth of a
module, type-checking blocks included).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator, Mapping
from pathlib import Path

from conftest import REPO

PACKAGE = REPO / "xdpq"
_ROW = re.compile(r"^\| (\d+) \| (.+) \|$")


def layers() -> dict[str, int]:
    """Part -> its layer, from docs/architecture.md."""
    text = (REPO / "docs/architecture.md").read_text()
    table = text[text.index("| layer | parts |"):]
    out = {}
    for line in table.splitlines()[2:]:
        m = _ROW.match(line)
        if not m:
            break
        for part in re.findall(r"`(\w+)`", m.group(2)):
            out[part] = int(m.group(1))
    return out


def _part(module: str) -> str | None:
    """The part of xdpq a dotted module name belongs to (``xdpq.sim.run`` -> ``sim``)."""
    names = module.split(".")
    return names[1] if names[0] == "xdpq" and len(names) > 1 else None


def _imported(tree: ast.AST) -> Iterator[str]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "xdpq":  # from xdpq import ir
                yield from (f"xdpq.{a.name}" for a in node.names)
            else:
                yield node.module


def imports(package: Path = PACKAGE) -> dict[str, set[str]]:
    """Part -> the other parts its modules import."""
    out: dict[str, set[str]] = {}
    for path in sorted(package.rglob("*.py")):
        rel = path.relative_to(package)
        part = rel.parts[0].removesuffix(".py")
        if part in ("__init__", "__main__"):
            continue
        found = {_part(m) for m in _imported(ast.parse(path.read_text(), str(path)))}
        out.setdefault(part, set()).update(p for p in found if p and p != part
                                           and not p.startswith("__"))
    return out


def violations(graph: Mapping[str, set[str]], rule: Mapping[str, int]) -> list[str]:
    out = []
    for part, deps in sorted(graph.items()):
        if part not in rule:
            out.append(f"xdpq/{part} is in no layer of docs/architecture.md")
            continue
        for dep in sorted(deps):
            if dep not in rule:
                out.append(f"xdpq/{dep} is in no layer of docs/architecture.md")
            elif dep == "testing":
                out.append(f"xdpq/{part} imports xdpq/testing, which is for tests only")
            elif rule[dep] >= rule[part]:
                way = "across" if rule[dep] == rule[part] else "up"
                out.append(f"xdpq/{part} (layer {rule[part]}) imports xdpq/{dep} "
                           f"(layer {rule[dep]}): {way} a layer")
    return out


def test_the_package_keeps_its_layers() -> None:
    assert violations(imports(), layers()) == []


def test_every_part_has_a_layer() -> None:
    parts = {p.name.removesuffix(".py") for p in PACKAGE.iterdir()
             if (p.suffix == ".py" or (p / "__init__.py").exists())
             and not p.name.startswith("__")}
    assert parts == set(layers())


def test_an_upward_or_sideways_import_is_caught(tmp_path: Path) -> None:
    rule = layers()
    pkg = tmp_path / "xdpq"
    (pkg / "ir").mkdir(parents=True)
    (pkg / "sim").mkdir()
    (pkg / "ir" / "nodes.py").write_text("from xdpq.dsl import parse\n")  # up
    (pkg / "sim" / "run.py").write_text(  # across, inside a function
        "def f():\n    from xdpq.runtime.params import write_params\n")
    (pkg / "sim" / "ok.py").write_text("from xdpq import ir\nimport xdpq.queues\n")
    graph = imports(pkg)
    assert graph == {"ir": {"dsl"}, "sim": {"runtime", "ir", "queues"}}
    assert violations(graph, rule) == [
        "xdpq/ir (layer 3) imports xdpq/dsl (layer 4): up a layer",
        "xdpq/sim (layer 6) imports xdpq/runtime (layer 6): across a layer",
    ]
    assert violations({"demo": {"testing"}}, rule) == [
        "xdpq/demo imports xdpq/testing, which is for tests only"]
