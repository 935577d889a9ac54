"""Build hook: ship the repository's top-level ``archs/`` and ``workloads/`` inside the package.

Everything else is configured in pyproject.toml. A wheel (``pip install .``, ``pip wheel .``,
``pip install git+URL``) gets copies under ``accelsim/data/archs`` and ``accelsim/data/workloads``,
which :mod:`accelsim.shipped` finds first; a source checkout or an editable install keeps
reading the top-level directories. The repository layout is unchanged.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

#: Top-level directory -> the files of it that ship.
SHIPPED = {"archs": ("*.yaml",), "workloads": ("*.py", "*.md")}


class BuildPyWithShippedData(build_py):
    """``build_py`` that also copies the shipped archs and workloads into the built package."""

    def run(self) -> None:
        super().run()
        root = Path(__file__).resolve().parent
        for d, patterns in SHIPPED.items():
            dst = Path(self.build_lib) / "accelsim" / "data" / d
            dst.mkdir(parents=True, exist_ok=True)
            for pat in patterns:
                for f in sorted((root / d).glob(pat)):
                    shutil.copy2(f, dst / f.name)


setup(cmdclass={"build_py": BuildPyWithShippedData})
