"""The wheel a release is built as (`pip wheel --no-deps .`): every file the station needs
is in it, and setuptools has nothing to warn about in how the packaging is declared."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from tests.conftest import REPO


def test_wheel_holds_the_web_view_and_builds_without_warnings(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    shutil.copytree(
        REPO,
        tree,
        ignore=shutil.ignore_patterns(".git", ".venv", "build", "*.egg-info", ".storage"),
    )
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", str(tmp_path), str(tree)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert build.returncode == 0, build.stdout + build.stderr
    output = build.stdout + build.stderr
    # setuptools' "Package 'components.http.www' is absent from the `packages`
    # configuration" (and any other warning of its own about the configuration)
    assert "BuildBackendWarning" not in output
    assert "absent from the `packages` configuration" not in output
    assert "SetuptoolsDeprecationWarning" not in output
    (wheel,) = tmp_path.glob("orge-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    web = sorted(p.name for p in (REPO / "components" / "http" / "www").iterdir())
    assert web, "the web view has files"
    for name in web:
        assert f"components/http/www/{name}" in names
    assert "orge/services.yaml" in names
    assert "components/http/manifest.yaml" in names
    # the tests and the byte-compiled leftovers of the tree are not shipped
    assert not any(n.startswith("tests/") or "__pycache__" in n for n in names)
