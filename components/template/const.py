"""Names shared by the template component's modules (its package `__init__`, config.py and
entities.py), kept here so no submodule imports the package that imports it."""

DOMAIN = "template"
