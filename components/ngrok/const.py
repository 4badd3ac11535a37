"""Names shared by the ngrok component's modules (its package `__init__` and tunnel.py),
kept here so no submodule imports the package that imports it."""

DOMAIN = "ngrok"
