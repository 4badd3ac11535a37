"""The recorder's domain name, in a leaf: the package face (`__init__.py`, read by
check-config) and the runtime (core.py) both import it from here, so the runtime does
not import the package that loads it."""

from __future__ import annotations

DOMAIN = "recorder"
