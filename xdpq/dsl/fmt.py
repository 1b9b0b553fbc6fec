"""The canonical layout of a scheduler program (``xdpq fmt``).

The program is parsed with the ordinary parser (a program that does not parse
is not formatted: its SourceError goes to the caller) and printed again from
its syntax tree. Comments are not in the tree: the language has no strings,
so every ``#`` starts one, and each is tied to the output line that holds the
code around it, found through the source offsets of the tree's spans.

Layout:

* two spaces of indentation per block, one statement per line; hook and
  ``if`` bodies always on their own lines, ``} else {`` and ``} else if c {``
  on the line of the closing brace;
* a state block on one line when it has one field and no comment inside,
  otherwise one field per line; an empty state or hook is ``{}``;
* one space around binary operators and ``=``, one after commas and colons,
  none inside brackets; ``low..high`` without spaces (with spaces when an end
  is not a single term); parentheses only where the tree needs them;
* numbers and their units exactly as written;
* blank lines kept where the source has them (a run becomes one), except
  after an opening brace and before a closing one;
* a comment after code stays at the end of that code's line (two spaces
  before ``#``); a comment on its own line stays above the line that follows
  it, indented like that line (like the block's body before a closing brace);
  a comment in the middle of a statement split across lines moves above the
  statement, which is printed on one line. Trailing white space is removed.

The output is parsed again and its tree compared with the input's (spans
aside): a difference is a bug in this module and raises FormatError instead
of returning a program that means something else.
"""

from __future__ import annotations

import bisect
import dataclasses
import re
from dataclasses import dataclass, field

from xdpq.dsl import ast
from xdpq.dsl.parser import parse
from xdpq.errors import SourceError, Span, XdpqError

__all__ = ["FormatError", "comments", "format"]

INDENT = "  "


class FormatError(XdpqError):
    """The formatter's output would not mean what its input meant (a bug here)."""


# -- comments and offsets --------------------------------------------------------

_COMMENT = re.compile(r"#[^\n]*")


def comments(text: str) -> list[str]:
    """Every comment of a program, in order, without trailing white space."""
    return [m.group().rstrip() for m in _COMMENT.finditer(text)]


@dataclass
class _Comment:
    start: int
    text: str
    whole_line: bool  # nothing but white space before it on its line
    blank_before: bool  # the line above it is blank


class _Source:
    """Offsets in the source text: lines, code with comments blanked, braces."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.line_starts = [0]
        for i, ch in enumerate(text):
            if ch == "\n":
                self.line_starts.append(i + 1)
        self.comments: list[_Comment] = []
        chars = list(text)
        for m in _COMMENT.finditer(text):
            for i in range(m.start(), m.end()):
                chars[i] = " "
            self.comments.append(_Comment(m.start(), m.group().rstrip(),
                                          self.first_on_line(m.start()),
                                          self.blank_above(m.start())))
        self.code = "".join(chars)  # the text with every comment replaced by spaces
        self.match: dict[int, int] = {}  # offset of each '{' -> offset of its '}'
        stack = []
        for i, ch in enumerate(self.code):
            if ch == "{":
                stack.append(i)
            elif ch == "}" and stack:
                self.match[stack.pop()] = i

    def offset(self, line: int, column: int) -> int:
        return self.line_starts[line - 1] + column - 1

    def start(self, span: Span) -> int:
        return self.offset(span.line, span.column)

    def end(self, span: Span) -> int:
        return self.offset(span.end_line, span.end_column)

    def first_on_line(self, pos: int) -> bool:
        line_start = self.text.rfind("\n", 0, pos) + 1
        return self.text[line_start:pos].strip() == ""

    def blank_above(self, pos: int) -> bool:
        """The line above pos's line holds only white space."""
        line_start = self.text.rfind("\n", 0, pos) + 1
        if line_start == 0:
            return False
        above = self.text.rfind("\n", 0, line_start - 1) + 1
        return self.text[above:line_start - 1].strip() == ""

    def find(self, what: str, pos: int) -> int:
        """The offset of the first ``what`` in the code at or after pos."""
        return self.code.index(what, pos)

    def skip_space(self, pos: int) -> int:
        while pos < len(self.code) and self.code[pos].isspace():
            pos += 1
        return pos


# -- expressions -----------------------------------------------------------------

# Binding strength, as in grammar.lark: or < and < not < compare < sum < product
# < unary minus < atom.
_OR, _AND, _NOT, _CMP, _SUM, _PROD, _NEG, _ATOM = range(8)
_LEVEL = {"or": _OR, "and": _AND, "==": _CMP, "!=": _CMP, "<": _CMP, "<=": _CMP, ">": _CMP,
          ">=": _CMP, "+": _SUM, "-": _SUM, "*": _PROD, "/": _PROD, "%": _PROD}


def _level(e: ast.Expr) -> int:
    match e:
        case ast.Binary(op=op):
            return _LEVEL[op]
        case ast.Unary(op="not"):
            return _NOT
        case ast.Unary():
            return _NEG
        case _:
            return _ATOM


def expr(e: ast.Expr) -> str:
    """An expression on one line, with the parentheses its tree needs and no others."""
    match e:
        case ast.Number(text=text):
            return text
        case ast.Bool(value=value):
            return "true" if value else "false"
        case ast.Path(parts=parts):
            return ".".join(parts)
        case ast.Index(name=name, indices=indices, attr=attr):
            return name + _subscripts(indices) + (f".{attr}" if attr is not None else "")
        case ast.Call(func=func, args=args):
            return f"{func}({', '.join(expr(a) for a in args)})"
        case ast.Unary(op="not", operand=operand):
            return f"not {_operand(operand, _NOT)}"
        case ast.Unary(op=op, operand=operand):
            return f"{op}{_operand(operand, _NEG)}"
        case ast.Binary(op=op, left=left, right=right):
            level = _LEVEL[op]
            if level == _CMP:  # not associative: compare: sum (COMP sum)?
                return f"{_operand(left, _SUM)} {op} {_operand(right, _SUM)}"
            # Left-associative chains: a right operand of the same strength needs parentheses.
            return f"{_operand(left, level)} {op} {_operand(right, level + 1)}"
    raise FormatError(f"internal error: cannot print {type(e).__name__}")


def _subscripts(indices: tuple[ast.Expr, ...]) -> str:
    return "".join(f"[{expr(i)}]" for i in indices)


def _operand(e: ast.Expr, at_least: int) -> str:
    text = expr(e)
    return text if _level(e) >= at_least else f"({text})"




# -- output lines ----------------------------------------------------------------


@dataclass
class _Line:
    indent: int
    text: str
    start: int  # the source offsets of the code this line prints
    end: int
    opens: bool = False  # ends with an opening brace
    closes: bool = False  # starts with a closing brace
    leading: list[_Comment] = field(default_factory=list)
    trailing: _Comment | None = None
    blank_before: bool = False


class _Printer:
    def __init__(self, src: _Source) -> None:
        self.src = src
        self.lines: list[_Line] = []

    def add(self, indent: int, text: str, start: int, end: int, *, opens: bool = False,
            closes: bool = False) -> None:
        self.lines.append(_Line(indent, text, start, end, opens, closes))

    def comment_inside(self, start: int, end: int) -> bool:
        return any(start < c.start < end for c in self.src.comments)

    # declarations
    def program(self, prog: ast.Program) -> None:
        m = re.compile(r"scheduler\s+[A-Za-z_][A-Za-z0-9_]*").search(self.src.code,
                                                                     self.src.start(prog.span))
        assert m is not None
        self.add(0, f"scheduler {prog.name}", m.start(), m.end())
        for decl in _declarations(prog):
            match decl:
                case ast.Param():
                    self.param(decl)
                case ast.Queue():
                    self.queue(decl)
                case ast.State():
                    self.state(decl)
                case ast.Hook():
                    self.hook(decl)

    def whole(self, node: ast.Param | ast.Queue | ast.State | ast.Hook, text: str) -> None:
        self.add(0, text, self.src.start(node.span), self.src.end(node.span))

    def param(self, p: ast.Param) -> None:
        text = f"param {p.name}"
        if p.count is not None:
            text += f"[{expr(p.count)}]"
        if p.type is not None:
            text += f": {p.type}"
        text += f" = {expr(p.default)}"
        if p.low is not None and p.high is not None:
            dots = ".." if min(_level(p.low), _level(p.high)) >= _NEG else " .. "
            text += f" in {expr(p.low)}{dots}{expr(p.high)}"
        self.whole(p, text)

    def queue(self, q: ast.Queue) -> None:
        text = f"queue {q.name}{_subscripts(q.dims)}"
        text += f": {q.kind}({', '.join(f'{a.name} = {expr(a.value)}' for a in q.args)})"
        if q.of:
            text += f" of {', '.join(q.of)}"
        self.whole(q, text)

    def state(self, s: ast.State) -> None:
        match s.scope:
            case ast.GlobalScope():
                head = "state global"
            case ast.FlowScope(key=key):
                head = f"state per flow({', '.join(expr(k) for k in key)})"
            case ast.QueueScope(queue=queue):
                head = f"state per {queue}"
        start, end = self.src.start(s.span), self.src.end(s.span)
        lbrace = self.src.find("{", start)
        rbrace = self.src.match[lbrace]
        fields = [f"{f.name}: {'signed ' * f.signed}{f.type} = {expr(f.default)}"
                  for f in s.fields]
        if len(fields) <= 1 and not self.comment_inside(lbrace, rbrace):
            self.add(0, f"{head} {{ {fields[0]} }}" if fields else f"{head} {{}}", start, end)
            return
        self.add(0, f"{head} {{", start, lbrace + 1, opens=True)
        for f, text in zip(s.fields, fields, strict=True):
            self.add(1, text, self.src.start(f.span), self.src.end(f.span))
        self.add(0, "}", rbrace, rbrace + 1, closes=True)

    def hook(self, h: ast.Hook) -> None:
        match h.event:
            case "enqueue":
                head = "on enqueue"
            case "dequeue":
                head = f"on dequeue({h.params[0]})"
            case _:  # a single queue's hook has no indices: on ready voice {
                head = f"on ready {h.queue}" + (f"({', '.join(h.params)})" if h.params else "")
        start, end = self.src.start(h.span), self.src.end(h.span)
        lbrace = self.src.find("{", start)
        rbrace = self.src.match[lbrace]
        if not h.body and not self.comment_inside(lbrace, rbrace):
            self.add(0, f"{head} {{}}", start, end)
            return
        self.add(0, f"{head} {{", start, lbrace + 1, opens=True)
        self.block(h.body, 1)
        self.add(0, "}", rbrace, rbrace + 1, closes=True)

    # statements
    def block(self, body: tuple[ast.Stmt, ...], indent: int) -> None:
        for stmt in body:
            self.stmt(stmt, indent)

    def stmt(self, s: ast.Stmt, indent: int) -> None:
        match s:
            case ast.If():
                self.if_(s, indent, None)
                return
            case ast.Let(name=name, value=value):
                text = f"let {name} = {expr(value)}"
            case ast.Assign(target=target, value=value):
                text = f"{expr(target)} = {expr(value)}"
            case ast.Enqueue(queue=queue, indices=indices, rank=rank, at=at):
                text = f"enqueue {queue}{_subscripts(indices)}"
                if rank is not None:
                    text += f" rank {expr(rank)}"
                if at is not None:
                    text += f" at {expr(at)}"
            case ast.Drop(reason=reason, extra=extra):
                text = f"drop {reason}" + (f" {extra.parts[0]}" if extra is not None else "")
            case ast.Mark(reason=reason, otherwise=otherwise):
                text = f"mark ce {reason} else drop {otherwise}"
            case ast.Pass():
                text = "pass"
        self.add(indent, text, self.src.start(s.span), self.src.end(s.span))

    def if_(self, s: ast.If, indent: int, closing: int | None) -> None:
        """``if c {`` or, continuing a chain from the '}' at ``closing``, ``} else if c {``."""
        lbrace = self.src.find("{", self.src.end(s.cond.span))
        rbrace = self.src.match[lbrace]
        head = f"if {expr(s.cond)} {{"
        if closing is None:
            self.add(indent, head, self.src.start(s.span), lbrace + 1, opens=True)
        else:
            self.add(indent, f"}} else {head}", closing, lbrace + 1, opens=True, closes=True)
        self.block(s.then, indent + 1)
        else_at = self.src.skip_space(rbrace + 1)
        if not re.match(r"else\b", self.src.code[else_at:]):
            self.add(indent, "}", rbrace, rbrace + 1, closes=True)
            return
        after_else = self.src.skip_space(else_at + len("else"))  # an empty else block is kept
        nested = s.orelse[0] if s.orelse else None
        if (len(s.orelse) == 1 and isinstance(nested, ast.If)
                and after_else == self.src.start(nested.span)):  # written as `else if`
            self.if_(nested, indent, rbrace)
            return
        end = self.src.match[after_else]
        self.add(indent, "} else {", rbrace, after_else + 1, opens=True, closes=True)
        self.block(s.orelse, indent + 1)
        self.add(indent, "}", end, end + 1, closes=True)

    def uncovered(self) -> int | None:
        """The first code character no line prints (there must be none), or None."""
        pos = 0
        for line in self.lines:
            if line.start < pos or self.src.code[pos:line.start].strip():
                return pos
            pos = line.end
        return pos if self.src.code[pos:].strip() else None

    # comments and blank lines
    def place_comments(self) -> list[_Comment]:
        """Tie each comment to a line; returns those after the last line of code."""
        src, lines = self.src, self.lines
        starts = [line.start for line in lines]

        def owner(pos: int) -> _Line | None:
            i = bisect.bisect_right(starts, pos) - 1
            return lines[i] if i >= 0 and lines[i].start <= pos < lines[i].end else None

        after: list[_Comment] = []
        for c in src.comments:
            if not c.whole_line:
                prev = len(src.code[:c.start].rstrip()) - 1  # the code just before it
                line = owner(prev)
                if line is not None and src.code[prev + 1:line.end].strip() == "":
                    line.trailing = c
                    continue
                if line is not None:  # inside a statement split across lines
                    line.leading.append(c)
                    continue
            nxt = src.skip_space(c.start)
            line = owner(nxt) if nxt < len(src.code) else None
            if line is None:
                nxt_start = bisect.bisect_left(starts, nxt)
                if nxt_start < len(lines):
                    lines[nxt_start].leading.append(c)
                else:
                    after.append(c)
            else:
                line.leading.append(c)
        for line in lines:
            line.blank_before = src.first_on_line(line.start) and src.blank_above(line.start)
        return after

    def render(self) -> str:
        after = self.place_comments()
        out: list[str] = []
        no_blank = True  # at the start, and after an opening brace

        def emit(indent: int, text: str, blank: bool) -> None:
            if blank and not no_blank:
                out.append("")
            out.append(INDENT * indent + text)

        for line in self.lines:
            comment_indent = line.indent + 1 if line.closes else line.indent
            blank = line.blank_before and not line.closes
            for c in line.leading:
                c_blank = c.whole_line and c.blank_before
                if c.start > line.start:  # moved up from inside the line: the line's blank
                    c_blank, blank = c_blank or blank, False  # line goes above it
                emit(comment_indent, c.text, c_blank)
                no_blank = False
            text = line.text + (f"  {line.trailing.text}" if line.trailing else "")
            emit(line.indent, text, blank)
            no_blank = line.opens
        for c in after:
            emit(0, c.text, c.blank_before)
            no_blank = False
        return "\n".join(out) + "\n"


def _declarations(prog: ast.Program) -> list[ast.Param | ast.Queue | ast.State | ast.Hook]:
    """The declarations in the order they are written."""
    decls = [*prog.params, *prog.queues, *prog.states, *prog.hooks]
    return sorted(decls, key=lambda d: (d.span.line, d.span.column))


# -- meaning ---------------------------------------------------------------------


def shape(node: object) -> object:
    """A node as nested tuples without its spans: equal shapes, equal meaning."""
    if isinstance(node, ast.Program):
        return ("Program", node.name, tuple(shape(d) for d in _declarations(node)))
    if dataclasses.is_dataclass(node):
        return (type(node).__name__, *(shape(getattr(node, f.name))
                                        for f in dataclasses.fields(node) if f.name != "span"))
    if isinstance(node, tuple):
        return tuple(shape(n) for n in node)
    return node


def format(text: str, filename: str = "<program>") -> str:
    """The program in its canonical layout, comments kept.

    Raises SourceError (positioned) when the program does not parse, and
    FormatError if the result would not parse to the same tree (a bug here).
    """
    tree = parse(text, filename)
    try:
        src = _Source(text)
        printer = _Printer(src)
        printer.program(tree)
        lost = printer.uncovered()
        if lost is not None:
            raise FormatError(f"internal error: formatting {filename} would lose the code at "
                              f"offset {lost} (please report this)")
        out = printer.render()
        again = parse(out, filename)
        same = shape(again) == shape(tree)
    except SourceError as err:
        raise FormatError(f"internal error: the formatted {filename} does not parse: "
                          f"{err.message} (please report this)") from None
    except (ValueError, KeyError, IndexError, AttributeError, TypeError) as err:
        raise FormatError(f"internal error: cannot format {filename}: {err!r} "
                          "(please report this)") from err
    if not same:
        raise FormatError(f"internal error: formatting {filename} would change its meaning "
                          "(please report this)")
    if comments(out) != [c.text for c in src.comments]:
        raise FormatError(f"internal error: formatting {filename} would lose or move a comment "
                          "(please report this)")
    return out
