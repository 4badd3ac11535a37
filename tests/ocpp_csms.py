"""The test CSMS now lives in orge.testing.ocpp_csms; this name stays for existing imports."""

from orge.testing.ocpp_csms import *  # noqa: F403
