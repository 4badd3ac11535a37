#!/usr/bin/env bash
# Creates .venv-ha with Home Assistant 2024.3.3 (the newest that runs on Python 3.11), for
# the side-by-side benchmarks. Separate from .venv: it pins other versions of our libraries.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv-ha/bin/python ] || python3 -m venv .venv-ha
.venv-ha/bin/pip install --quiet homeassistant==2024.3.3
