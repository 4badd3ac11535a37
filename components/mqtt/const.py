"""Names shared by the mqtt component's modules (its package `__init__` and station.py),
kept here so no submodule imports the package that imports it."""

DOMAIN = "mqtt"
