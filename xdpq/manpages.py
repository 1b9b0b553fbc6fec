"""Manual pages generated from the command line's own definitions (argparse-manpage):
``xdpq.1`` and one ``xdpq-VERB.1`` per verb, with every option and the examples of its
``--help``. ``./run`` installs them where ``man`` finds them::

    python -m xdpq.manpages /usr/local/share/man/man1
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from xdpq import __version__
from xdpq.cli import VERBS, build_parser


def _page(parser: argparse.ArgumentParser, name: str, summary: str) -> str:
    from argparse_manpage.manpage import Manpage

    page = Manpage(parser)
    page.prog, page.description = name, summary
    page.source, page.manual = f"xdpq {__version__}", "xdpq manual"
    return str(page)


def pages() -> dict[str, str]:
    """File name -> the page, as roff."""
    top = build_parser()
    verbs = next(a for a in top._actions if isinstance(a, argparse._SubParsersAction))
    helps = {c.dest: c.help for c in verbs._choices_actions}
    out = {"xdpq.1": _page(top, "xdpq", "write a packet scheduler, simulate it, deploy it "
                                        "into XDP (see xdpq-VERB(1) for each verb)")}
    for verb in VERBS:
        out[f"xdpq-{verb}.1"] = _page(verbs.choices[verb], f"xdpq-{verb}", helps[verb] or "")
    return out


def write(directory: Path) -> list[Path]:
    """Write the pages into ``directory``; only those that changed. Returns them."""
    directory.mkdir(parents=True, exist_ok=True)
    changed = []
    for name, text in pages().items():
        path = directory / name
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
            changed.append(path)
    return changed


def main(argv: list[str] | None = None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    if len(args) != 1:
        print("usage: python -m xdpq.manpages DIR (e.g. /usr/local/share/man/man1)",
              file=sys.stderr)
        return 2
    changed = write(Path(args[0]))
    print(f"{args[0]}: {len(changed)} manual page(s) written, the others unchanged")
    return 0


if __name__ == "__main__":
    sys.exit(main())
