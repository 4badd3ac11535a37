"""Wheels of ORGE built from a copy of this tree with another `orge.__version__`, as a
release is built (`pip wheel --no-deps .`), for the update and provisioning tests."""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

from tests.conftest import REPO

# This test venv's libraries: a release installed with `--deps-from SITE_PACKAGES` takes
# ORGE from its wheel and fetches nothing.
SITE_PACKAGES = sysconfig.get_paths()["purelib"]

CANNOT_START = """

def cmd_run(args: argparse.Namespace) -> int:
    raise SystemExit("orge: this build cannot start (test release)")
"""


def build_wheel(tmp: Path, version: str, cannot_start: bool = False) -> Path:
    """`orge-<version>-py3-none-any.whl` in tmp/wheels; with `cannot_start`, its `orge run`
    exits at once (every other command works: check-config passes)."""
    tree = tmp / f"tree-{version}"
    shutil.copytree(
        REPO,
        tree,
        ignore=shutil.ignore_patterns(".git", ".venv", "tests", "build", "*.egg-info", ".storage"),
    )
    init = tree / "orge" / "__init__.py"
    text = init.read_text()
    assert '__version__ = "' in text
    init.write_text(text.replace(text.split('__version__ = "')[1].split('"')[0], version, 1))
    if cannot_start:
        cli = tree / "orge" / "cli.py"
        cli.write_text(cli.read_text() + CANNOT_START)  # the later definition wins
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "-w",
            str(tmp / "wheels"),
            str(tree),
        ],
        check=True,
        timeout=300,
        capture_output=True,
    )
    shutil.rmtree(tree)
    (wheel,) = (tmp / "wheels").glob(f"orge-{version}-*.whl")
    return wheel
