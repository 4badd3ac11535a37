"""ORGE: the software that runs on an EV charging station."""

__version__ = "0.1.0"
