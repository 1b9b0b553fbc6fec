"""``xdpq fmt``: one layout, every comment kept, never a change of meaning.

Each formatted program must parse to the same tree (spans aside) as its
source, keep its comments in order, and come out of a second formatting
unchanged: on the library, on a messy program held to an exact text, and on
generated programs (those of test_generated_programs and the trees of
tree_programs, with comments and blank lines scattered through them)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_generated_programs import programs, typed_programs
from tree_programs import trees

from xdpq.cli import main
from xdpq.dsl import ast, parse
from xdpq.dsl.fmt import comments, format, shape
from xdpq.errors import SourceError

REPO = Path(__file__).resolve().parents[2]
LIBRARY = sorted((REPO / "schedulers").glob("*.xdpq"))


def assert_well_formatted(source: str, out: str, tree: ast.Program | None = None) -> None:
    """out means what source means, keeps its comments, and is its own layout."""
    assert shape(parse(out)) == shape(tree or parse(source))
    assert comments(out) == comments(source)
    assert format(out) == out
    assert out.endswith("\n") and not out.endswith("\n\n")
    assert "\n\n\n" not in out
    for line in out.splitlines():
        assert line == line.rstrip() and "\t" not in line.split("#")[0]
        assert (len(line) - len(line.lstrip(" "))) % 2 == 0


@pytest.mark.parametrize("path", LIBRARY, ids=lambda p: p.stem)
def test_library_keeps_its_meaning_and_comments(path: Path) -> None:
    source = path.read_text()
    out = format(source, str(path))
    assert_well_formatted(source, out)
    assert len(comments(out)) == len(comments(source)) > 0


@pytest.mark.parametrize("path", LIBRARY, ids=lambda p: p.stem)
def test_library_is_already_in_the_layout(path: Path) -> None:
    """The formatter's layout is the library's own, but for one rule: a state
    block of more than one field takes one line per field."""
    source = path.read_text()
    expected = source.replace("state per tenants { vtime: bytes = 0  finish: bytes = 0 }\n",
                              "state per tenants {\n  vtime: bytes = 0\n  finish: bytes = 0\n}\n")
    assert format(source, str(path)) == expected


MESSY = """\
   # header comment


   # second paragraph, after two blank lines
scheduler   messy   # the name


param w [ 8 ]=1 in 1..1000 # a table
param t:time=5ms in (1us)..1s+2s
queue q :pifo( range=64Ki,capacity = 10000 )
queue fl[16]: fifo()  queue root: pifo(range = 64) of fl
state global{a:bytes=0}
state per fl { # a comment inside: one field per line
  c: count = 0 }
state per flow( ip.src,ip.dst ){x:time=0 y:bytes=0}
state global {}

on enqueue{

  # first statement

  let s = ((a + pkt.len) * (2))   # parentheses needed and not
  let u = a - (pkt.len - 1B) - (2B)
  let v = not (a > 1B and (b or c))
  let k = ((a < b)) == (c) or not(not d)
  a=max( s ,a )+ -(1B)   b = (a * b) % (c / d) * -(- e)
  if (a > 1B) { enqueue q rank s } else if a == 0 {
    # only comment in block
    drop zero
  }
  # before else
  else { if b { pass } else
  { enqueue fl[(1 + 2)] } }    # after the nested if


  enqueue q rank s +   # in the middle
     1B at now
  # last in block
}
on dequeue (p) { } # empty
on ready fl (i) { enqueue root rank fl[i].head/64B }
# the end
"""

MESSY_FORMATTED = """\
# header comment

# second paragraph, after two blank lines
scheduler messy  # the name

param w[8] = 1 in 1..1000  # a table
param t: time = 5ms in 1us .. 1s + 2s
queue q: pifo(range = 64Ki, capacity = 10000)
queue fl[16]: fifo()
queue root: pifo(range = 64) of fl
state global { a: bytes = 0 }
state per fl {  # a comment inside: one field per line
  c: count = 0
}
state per flow(ip.src, ip.dst) {
  x: time = 0
  y: bytes = 0
}
state global {}

on enqueue {
  # first statement

  let s = (a + pkt.len) * 2  # parentheses needed and not
  let u = a - (pkt.len - 1B) - 2B
  let v = not (a > 1B and (b or c))
  let k = (a < b) == c or not not d
  a = max(s, a) + -1B
  b = a * b % (c / d) * --e
  if a > 1B {
    enqueue q rank s
  } else if a == 0 {
    # only comment in block
    drop zero
    # before else
  } else {
    if b {
      pass
    } else {
      enqueue fl[1 + 2]
    }
  }  # after the nested if

  # in the middle
  enqueue q rank s + 1B at now
  # last in block
}
on dequeue(p) {}  # empty
on ready fl(i) {
  enqueue root rank fl[i].head / 64B
}
# the end
"""


def test_a_messy_program_gets_the_layout() -> None:
    out = format(MESSY, "messy.xdpq")
    assert out == MESSY_FORMATTED
    assert_well_formatted(MESSY, out)
    assert comments(out) == [c.rstrip() for c in re.findall(r"#[^\n]*", MESSY)]


@pytest.mark.parametrize("source, expected", [
    ("a - (b - c)", "a - (b - c)"),
    ("(a - b) - c", "a - b - c"),
    ("a / (b * c)", "a / (b * c)"),
    ("(a + b) * c", "(a + b) * c"),
    ("a + (b * c)", "a + b * c"),
    ("(a < b) < c", "(a < b) < c"),
    ("a < (b < c)", "a < (b < c)"),
    ("(a or b) and c", "(a or b) and c"),
    ("a or (b and c)", "a or b and c"),
    ("(a or b) or c", "a or b or c"),
    ("a or (b or c)", "a or (b or c)"),
    ("not (a and b)", "not (a and b)"),
    ("(not a) and b", "not a and b"),
    ("(not a) + b", "(not a) + b"),
    ("-(a + b)", "-(a + b)"),
    ("-(a) * b", "-a * b"),
    ("(-a) * b", "-a * b"),
    ("f((a), (b + c))[(i)]", None),
    ("w[(i + 1)].x + (max((a), b))", "w[i + 1].x + max(a, b)"),
    ("1.5KiB + 0x", "1.5KiB + 0x"),
])
def test_parentheses_are_the_ones_the_tree_needs(source: str, expected: str | None) -> None:
    program = f"scheduler x\non enqueue {{\n  let v = {source}\n}}\n"
    try:
        parse(program)
    except SourceError:
        assert expected is None
        return
    out = format(program)
    assert out == f"scheduler x\non enqueue {{\n  let v = {expected}\n}}\n"


@pytest.mark.parametrize("source, expected", [
    ("scheduler x\r\n# c \r\non enqueue { if a { } else { } }\r\n",
     "scheduler x\n# c\non enqueue {\n  if a {\n  } else {\n  }\n}\n"),
    ("scheduler x\non enqueue { if a { pass } # x\n else # y\n if b { pass } }",
     "scheduler x\non enqueue {\n  if a {\n    pass\n    # x\n    # y\n  } else if b {\n"
     "    pass\n  }\n}\n"),
    ("scheduler x\nparam p = 1 in # a\n 0 .. # b\n 2 # c\n",
     "scheduler x\n# a\n# b\nparam p = 1 in 0..2  # c\n"),
    ("scheduler x\n\n\n\non enqueue {\n\n  pass\n\n\n  pass\n\n}\n\n\n",
     "scheduler x\n\non enqueue {\n  pass\n\n  pass\n}\n"),
])
def test_layout_details(source: str, expected: str) -> None:
    assert format(source) == expected
    assert format(expected) == expected


def test_a_printer_mistake_is_caught_not_written(monkeypatch: pytest.MonkeyPatch) -> None:
    """Were the printer to drop a needed parenthesis, format refuses to answer."""
    from xdpq.dsl import fmt

    monkeypatch.setattr(fmt, "_operand", lambda e, at_least: fmt.expr(e))
    with pytest.raises(fmt.FormatError, match="would change its meaning"):
        format("scheduler x\non enqueue { let a = (b + c) * d }\n", "m.xdpq")


def test_a_syntax_error_is_positioned_and_not_formatted() -> None:
    with pytest.raises(SourceError) as err:
        format("scheduler x\non enqueue {\n  let a =\n}\n", "bad.xdpq")
    assert str(err.value).startswith("bad.xdpq:4:1: error: found '}', expected an expression")


# -- generated programs ---------------------------------------------------------------


def scatter_comments(data: st.DataObject, source: str) -> str:
    """The program with comments and blank lines put into some of its white space."""
    spots = [m.start() for m in re.finditer(r"\s", source)]
    if not spots:
        return source
    chosen = data.draw(st.lists(st.sampled_from(spots), max_size=8, unique=True))
    for n, pos in enumerate(sorted(chosen, reverse=True)):
        insert = data.draw(st.sampled_from([" # cN (x + y) { }\n", "\n# cN\n", "\n\n\n", "#\n",
                                            "\n  #cN  \n\n", " ## } else {\n"]))
        source = source[:pos] + insert.replace("N", str(n)) + source[pos:]
    return source


def check_formats(source: str) -> bool:
    """Formats and holds the output to the rules; False when the source does not parse."""
    try:
        tree = parse(source, "g.xdpq")
    except SourceError as err:
        with pytest.raises(SourceError) as again:
            format(source, "g.xdpq")
        assert str(again.value) == str(err)
        return False
    assert_well_formatted(source, format(source, "g.xdpq"), tree)
    return True


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_generated_programs_format_idempotently(data: st.DataObject) -> None:
    check_formats(scatter_comments(data, data.draw(programs)))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_well_typed_programs_format_idempotently(data: st.DataObject) -> None:
    assert check_formats(scatter_comments(data, data.draw(typed_programs)))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_trees_format_idempotently(data: st.DataObject) -> None:
    """Arrays of parents, several children, ready hooks with indices, clocks, fixed
    windows, eligibility at every level, signed state, paths in on dequeue."""
    assert check_formats(scatter_comments(data, data.draw(trees())))


# -- the verb -----------------------------------------------------------------------


def write(tmp_path: Path, name: str, text: str) -> Path:
    f = tmp_path / name
    f.write_text(text)
    return f


def test_check_changes_nothing_and_says_which_would_change(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    messy = write(tmp_path, "messy.xdpq", MESSY)
    tidy = write(tmp_path, "tidy.xdpq", MESSY_FORMATTED)
    before = {f: f.stat() for f in (messy, tidy)}
    assert main(["fmt", "--check", str(tidy)]) == 0
    assert capsys.readouterr().out == ""
    assert main(["fmt", "--check", str(messy), str(tidy)]) == 1
    assert capsys.readouterr().out == f"would reformat {messy}\n"
    assert main(["fmt", "--check", "--diff", str(messy), str(tidy)]) == 1
    out = capsys.readouterr().out
    assert out.startswith(f"would reformat {messy}\n--- {messy}\n+++ {messy} (formatted)\n")
    assert "\n-param w [ 8 ]=1 in 1..1000 # a table\n" in out
    assert "\n+param w[8] = 1 in 1..1000  # a table\n" in out
    assert messy.read_text() == MESSY and tidy.read_text() == MESSY_FORMATTED
    for f, st_before in before.items():
        assert f.stat().st_mtime_ns == st_before.st_mtime_ns


def test_fmt_rewrites_in_place_and_leaves_formatted_files_alone(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    messy = write(tmp_path, "messy.xdpq", MESSY)
    messy.chmod(0o640)
    tidy = write(tmp_path, "tidy.xdpq", MESSY_FORMATTED)
    tidy_before = tidy.stat()
    assert main(["fmt", str(messy), str(tidy)]) == 0
    assert capsys.readouterr().out == f"reformatted {messy}\n"
    assert messy.read_text() == MESSY_FORMATTED
    assert messy.stat().st_mode & 0o777 == 0o640
    after = tidy.stat()
    assert (after.st_ino, after.st_mtime_ns) == (tidy_before.st_ino, tidy_before.st_mtime_ns)
    assert sorted(os.listdir(tmp_path)) == ["messy.xdpq", "tidy.xdpq"]  # no temporary left
    assert main(["fmt", "--check", str(messy)]) == 0


def test_a_program_that_does_not_parse_is_left_unchanged(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad_text = "scheduler  x\nqueue q: heap()\n"
    bad = write(tmp_path, "bad.xdpq", bad_text)
    messy = write(tmp_path, "messy.xdpq", MESSY)
    assert main(["fmt", str(bad), str(messy)]) == 1
    captured = capsys.readouterr()
    assert captured.err == (
        f"{bad}:2:10: error: found 'heap', expected a queue kind (fifo, pifo or rbtree)\n"
        "queue q: heap()\n"
        "         ^^^^\n"
        f"xdpq fmt: {bad} left unchanged: it does not parse\n")
    assert captured.out == f"reformatted {messy}\n"  # the other files are still formatted
    assert bad.read_text() == bad_text


def test_the_command_line_end_to_end(tmp_path: Path) -> None:
    messy = write(tmp_path, "messy.xdpq", MESSY)

    def xdpq(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "xdpq.cli", *args],
                              capture_output=True, text=True, timeout=60)

    res = xdpq("fmt", "--check", str(messy))
    assert (res.returncode, res.stdout) == (1, f"would reformat {messy}\n")
    res = xdpq("fmt", str(messy))
    assert (res.returncode, res.stdout, res.stderr) == (0, f"reformatted {messy}\n", "")
    res = xdpq("fmt", "--check", str(messy), str(tmp_path / "absent.xdpq"))
    assert res.returncode == 1 and "cannot read" in res.stderr and "Traceback" not in res.stderr
    assert "xdpq fmt --check" in xdpq("fmt", "--help").stdout
