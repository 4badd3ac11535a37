"""Automation blueprints shipped with ORGE (see orge/)."""
