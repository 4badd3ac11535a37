"""The ESP32 layer's errors: one family under `Esp32Error` (an OrgeError, so a service
call that fails on the controller answers as any engine error does).

- `SerialLinkDown`: the serial port is not open (or closed while waiting for an answer).
- `FrameCorrupted`: the controller answered <ERR;INVALID_COMMA> twice to one frame.
- `ControllerNoAnswer`: no answer within the ACK timeout, after the allowed retries.
- `ControllerError`: the controller answered with an error status (ERR).

The OCPP layer has its own family (components/ocpp_station/sender.py: `OcppError`, with
`LinkDown` and `NoAnswer` for the CSMS link): the names here say serial and controller
so that neither is taken for the other.
"""

from __future__ import annotations

from orge.exceptions import OrgeError


class Esp32Error(OrgeError):
    """Base of the ESP32 layer's errors."""


class SerialLinkDown(Esp32Error):
    """The serial port is not open."""


class FrameCorrupted(Esp32Error):
    """The controller answered <ERR;INVALID_COMMA> twice to the same frame."""


class ControllerNoAnswer(Esp32Error):
    """The controller did not answer within the ACK timeout (after the allowed retries)."""


class ControllerError(Esp32Error):
    """The controller answered with an error status (ERR)."""
