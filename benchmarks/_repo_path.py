"""Imported first by every benchmark script (`import _repo_path`).

A script's own folder comes first on sys.path, and two scripts here are named like
packages they import (`http` for aiohttp, `ocpp`): drop the folder, put the repository in.
"""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path[:] = [path for path in sys.path if os.path.abspath(path or ".") != HERE]
sys.path.insert(0, REPO)
