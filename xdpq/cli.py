"""The ``xdpq`` command line: one verb per module in :mod:`xdpq.commands`."""
# PYTHON_ARGCOMPLETE_OK (shell completion: argcomplete)

from __future__ import annotations

import importlib
import os
import sys

from xdpq import __version__

# As typing.TYPE_CHECKING (type checkers take either), without importing typing, which
# takes as long as all that --version needs.
TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse

# Verb name -> module in xdpq.commands. Each module has ``register(subparsers)``
# that adds its parser and sets ``func(args) -> int``.
VERBS = ("doctor", "check", "fmt", "compile", "sim", "sweep", "deploy", "stats", "set", "down",
         "list", "demo")
VERSION = f"xdpq {__version__}"


def build_parser(verbs: tuple[str, ...] = VERBS) -> argparse.ArgumentParser:
    """The parser, with the verbs ``verbs`` (their modules are imported: all of them
    only where the whole command line is asked for, see ``_needed``)."""
    import argparse

    from xdpq.commands import json_options

    parser = argparse.ArgumentParser(
        prog="xdpq",
        description="Write a packet scheduler, simulate it, deploy it into XDP.",
        epilog="-j/--json and -p/--pretty go before the verb or after it: xdpq -j list, "
               "xdpq list -j. Every verb's --help ends with examples; man xdpq-VERB.",
    )
    parser.add_argument("--version", action="version", version=VERSION)
    json_options(parser, top=True)
    sub = parser.add_subparsers(dest="verb", metavar="VERB")
    for verb in verbs:
        importlib.import_module(f"xdpq.commands.{verb}").register(sub)
    return parser


def _needed(argv: list[str]) -> tuple[str, ...]:
    """The verbs whose modules this command line needs: the one it names (the first word
    that is not an option), none for a bare --version, else all (the top help, or an
    unknown verb's message, lists them; shell completion offers them). Importing one
    verb's module, not all twelve with what they import, is most of how fast a verb
    starts."""
    if "_ARGCOMPLETE" in os.environ:
        return VERBS
    words = [a for a in argv if not a.startswith("-")]
    if words:
        return (words[0],) if words[0] in VERBS else VERBS
    return () if "--version" in argv and not {"-h", "--help"} & set(argv) else VERBS


def _complete(parser: argparse.ArgumentParser) -> None:
    """Shell completion (argcomplete), when the shell asks for it and it is installed.
    Only then is argcomplete imported: it takes longer than ``--version`` itself."""
    if "_ARGCOMPLETE" not in os.environ:
        return
    try:
        import argcomplete
    except ImportError:
        return
    argcomplete.autocomplete(parser)


def main(argv: list[str] | None = None) -> int:
    words = sys.argv[1:] if argv is None else argv
    # Ctrl-C at any point, even while the verbs' modules are still being imported,
    # ends quietly with the shell's status for SIGINT.
    try:
        if words == ["--version"]:  # what argparse would print, without importing it first
            print(VERSION)
            return 0
        parser = build_parser(_needed(words))
        _complete(parser)
        args = parser.parse_args(argv)
        args.json = args.json or args.pretty
        if not getattr(args, "func", None):
            parser.print_help()
            return 2
        from xdpq.errors import XdpqError  # with the verb's modules, not at every start

        try:
            return int(args.func(args) or 0)
        except XdpqError as exc:
            print(f"xdpq {args.verb}: {exc}", file=sys.stderr)
            return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `xdpq ... | head`: the reader went away; say nothing more
        import signal  # here: with enum, it takes longer than --version

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + signal.SIGPIPE


if __name__ == "__main__":
    sys.exit(main())
