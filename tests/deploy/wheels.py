"""Wheels of ORGE built from a copy of this tree with another `orge.__version__`, as a
release is built (`pip wheel --no-deps .`), and the release layout `orge update` installs
into, for the update, firmware and provisioning tests."""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path
from typing import Any

from tests.conftest import REPO

# This test venv's libraries: a release installed with `--deps-from SITE_PACKAGES` takes
# ORGE from its wheel and fetches nothing.
SITE_PACKAGES = sysconfig.get_paths()["purelib"]

CANNOT_START = """

def cmd_run(args: argparse.Namespace) -> int:
    raise SystemExit("orge: this build cannot start (test release)")
"""


def build_wheels(tmp: Path, versions: dict[str, bool]) -> dict[str, Path]:
    """`orge-<version>-py3-none-any.whl` in tmp/wheels for each version, built side by side
    (one `pip wheel` each, in parallel); a version mapped to True cannot start: its
    `orge run` exits at once (every other command works, check-config passes)."""
    builds = {}
    for version, cannot_start in versions.items():
        tree = tmp / f"tree-{version}"
        shutil.copytree(
            REPO,
            tree,
            ignore=shutil.ignore_patterns(
                ".git", ".venv", "tests", "build", "*.egg-info", ".storage"
            ),
        )
        init = tree / "orge" / "__init__.py"
        text = init.read_text()
        old = text.split('__version__ = "')[1].split('"')[0]
        init.write_text(text.replace(f'__version__ = "{old}"', f'__version__ = "{version}"'))
        if cannot_start:
            cli = tree / "orge" / "cli.py"
            cli.write_text(cli.read_text() + CANNOT_START)  # the later definition wins
        command = [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps"]
        builds[version] = subprocess.Popen(
            [*command, "-w", str(tmp / "wheels"), str(tree)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
    wheels = {}
    for version, proc in builds.items():
        output = proc.communicate(timeout=300)[0]
        assert proc.returncode == 0, output.decode()
        shutil.rmtree(tmp / f"tree-{version}")
        (wheels[version],) = (tmp / "wheels").glob(f"orge-{version}-*.whl")
    return wheels


def releases_prefix(tmp_path: Path, monkeypatch: Any) -> Path:
    """A release layout for `orge update` (its `current` link) under `tmp_path`, named by
    `ORGE_PREFIX` for the process; returns the prefix."""
    prefix = tmp_path / "opt" / "orge"
    (prefix / "releases" / "0.1.0").mkdir(parents=True)
    (prefix / "current").symlink_to("releases/0.1.0")
    monkeypatch.setenv("ORGE_PREFIX", str(prefix))
    return prefix
