"""Names shared by the script component's modules (its package `__init__`, config.py and
manager.py), kept here so no submodule imports the package that imports it."""

DOMAIN = "script"
