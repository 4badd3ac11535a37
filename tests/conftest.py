"""The project's tests use orge.testing, the plugin component developers use too.

The plugin (`orge`, `config_dir`, `start_station`, `esp32_simulator`, `ocpp_csms`) is
registered by the `pytest11` entry point of an installed orge; it is named here as well so
that a checkout run without installing (PYTHONPATH=.) gets the same fixtures.
"""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

# The same name as the entry point's, so pytest loads the plugin once either way.
pytest_plugins = ["orge.testing.plugin"]
