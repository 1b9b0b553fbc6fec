"""Build step: a wheel carries ``kern/`` and ``schedulers/`` inside the package,
and the parser generated from the grammar.

Both trees stay at the top of the repository, where the project's layout puts
them; building a wheel copies what an installed xdpq compiles or reads into
``xdpq/kern/`` and ``xdpq/schedulers/``, where :mod:`xdpq.resources` looks
first. It also writes ``xdpq/dsl/lalr.py`` and ``lalr_tables.py`` (``python -m
xdpq.dsl.lalr_build``, with the Lark the build requires): the modules hold Lark's
runtime and tables, so they are generated here rather than committed. An editable
install reads the trees in place and copies nothing; ./run generates its parser in
the checkout.
Everything else about the package is declared in pyproject.toml.
"""

import subprocess
import sys
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.errors import FileError

# The runtime's headers, the programs xdpq loads itself (the test bed's receiver
# and traffic generator, the doctor's probes) and the library. kern/test and
# kern/bench hold the tests' and the benchmarks' own programs, which stay behind.
DATA = {"kern": ("*.h", "*.bpf.c", "probes/*.h", "probes/*.bpf.c"), "schedulers": ("*.xdpq",)}


class BuildPy(build_py):
    def run(self) -> None:
        super().run()
        if self.editable_mode:
            return
        for tree, patterns in DATA.items():
            for pattern in patterns:
                files = sorted(Path(tree).glob(pattern))
                if not files:
                    raise FileError(f"no {tree}/{pattern} in {Path.cwd()}")
                for src in files:
                    dst = Path(self.build_lib, "xdpq", src)
                    self.mkpath(str(dst.parent))
                    self.copy_file(str(src), str(dst))
        # From the checkout (cwd), which has the grammar; kept if the copy is current.
        subprocess.run([sys.executable, "-m", "xdpq.dsl.lalr_build",
                        str(Path(self.build_lib, "xdpq", "dsl"))], check=True)


setup(cmdclass={"build_py": BuildPy})
