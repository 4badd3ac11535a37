"""Names shared by the demo_csms component's modules (its package `__init__` and
server.py), kept here so no submodule imports the package that imports it."""

DOMAIN = "demo_csms"
