"""The ESP32 controller's serial protocol: frames out, lines in. Pure functions, no I/O.

Host -> controller: 5-byte frames `41 <cmd> 2C <value> 10`.
Controller -> host: ASCII lines `<STAT;K=V;...;>`, `<ACK;CMD=..;STATUS=..;>`, `<ERR;..>`,
`<INFO;..;>`, `<WARN;..;>`, plus free text (boot banner, `of<n>` card reads, ROM text).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

HEADER = 0x41
SEPARATOR = 0x2C
FOOTER = 0x10

CMD_READSTAT = 0x00
CMD_AUTH = 0x01
CMD_SETMAXAMP = 0x02
CMD_LOCK = 0x03
CMD_SET_STATE = 0x04

STATE_HARDFAULT_END = 0
STATE_IDLE = 1
STATE_CABLE_DETECT = 2
STATE_EV_CONNECTED = 3
STATE_READY = 4
STATE_CHARGING = 5
STATE_PAUSED = 6
STATE_STOPPED = 7
STATE_FAULT = 8

STATE_NAMES: dict[int, str] = {
    STATE_HARDFAULT_END: "hardfault_end",
    STATE_IDLE: "idle",
    STATE_CABLE_DETECT: "cable_detect",
    STATE_EV_CONNECTED: "ev_connected",
    STATE_READY: "ready",
    STATE_CHARGING: "charging",
    STATE_PAUSED: "paused",
    STATE_STOPPED: "stopped",
    STATE_FAULT: "fault",
}
CP_NAMES = {0: "A", 1: "B", 2: "C", 3: "error"}
PB_NAMES = {0: "ok", 1: "no_phase", 2: "no_earth"}


# The fields every STAT of this firmware prints (§5.1), in its order.
STAT_FIELDS = (
    "CP",
    "CPV",
    "PP",
    "PPV",
    "RL",
    "LOCK",
    "MOTOR",
    "PWM",
    "MAX",
    "CABLE",
    "AUTH",
    "STATE",
    "PB",
    "STOP",
)
# Without these a STAT cannot drive the entities meaningfully; others default to absent.
STAT_REQUIRED = ("STATE", "CP")

# §9.1: drop a partial line longer than this so noise without LF cannot grow memory.
MAX_LINE = 512

BANNER_PREFIX = "CSRPI Charging Station"
RECORD_KINDS = ("STAT", "ACK", "ERR", "INFO", "WARN")

# Kinds of skipped lines, counted by sensor.<name>_bad_lines.
BAD_OVERLONG = "overlong"
BAD_GARBAGE = "garbage"
BAD_NON_ASCII = "non_ascii"
BAD_UNKNOWN_RECORD = "unknown_record"
BAD_STAT = "bad_stat"
BAD_RECORD = "bad_record"
BAD_KINDS = (
    BAD_OVERLONG,
    BAD_GARBAGE,
    BAD_NON_ASCII,
    BAD_UNKNOWN_RECORD,
    BAD_STAT,
    BAD_RECORD,
)


def frame(command: int, value: int = 0) -> bytes:
    """One command frame (§2). Values are one byte each."""
    if not 0 <= command <= 0xFF or not 0 <= value <= 0xFF:
        raise ValueError(f"command {command} / value {value} out of byte range")
    return bytes((HEADER, command, SEPARATOR, value, FOOTER))


FRAME_READSTAT = frame(CMD_READSTAT, 0)
FRAME_AUTHORIZE = frame(CMD_AUTH, 1)
FRAME_DEAUTHORIZE = frame(CMD_AUTH, 0)
FRAME_STOP = frame(CMD_SET_STATE, STATE_STOPPED)
FRAME_LOCK = frame(CMD_LOCK, 1)
FRAME_UNLOCK = frame(CMD_LOCK, 0)


def frame_set_max_current(amps: int) -> bytes:
    return frame(CMD_SETMAXAMP, amps)


def state_name(code: int | None) -> str | None:
    """`charging` for 5; codes the firmware never uses on purpose read `state_<n>`."""
    if code is None:
        return None
    return STATE_NAMES.get(code, f"state_{code}")


def pwm_duty_percent(pwm: int) -> float | None:
    """§5.4: duty ≈ PWM/255; 255 means no PWM (constant +12 V)."""
    return None if pwm >= 255 else round(pwm * 100 / 255, 1)


def pwm_offered_current(pwm: int) -> float | None:
    """The current an EV reads from the duty cycle (duty × 0.6 A per %)."""
    duty = pwm_duty_percent(pwm)
    return None if duty is None else round(pwm * 100 / 255 * 0.6, 1)


def expected_pwm(current: int) -> int:
    """§5.4 integer arithmetic of the firmware for an offered current."""
    return ((current * 100 // 60) * 255) // 100


def cp_volts(cpv: int) -> float:
    """Estimated pilot peak voltage from the raw ADC count.

    Linear through the observed points (≈1846 at 6 V, ≈3925 at 12 V; ≈2890 at 9 V fits).
    An estimate for display only; decisions use the CP code.
    """
    return round(6.0 + (cpv - 1846) * 6.0 / 2079.0, 1)


@dataclass(slots=True)
class Record:
    """One recognised `<KIND;...>` record from a line."""

    kind: str
    fields: dict[str, str]
    text: str  # the record as received, `<...>` included

    def get_int(self, key: str) -> int | None:
        value = self.fields.get(key)
        if value is None or not value.isdigit():
            return None
        return int(value)


@dataclass(slots=True)
class Stat:
    """A parsed STAT line: integer fields by key. Missing keys are absent, not zero."""

    values: dict[str, int]
    missing: tuple[str, ...] = ()
    extra: tuple[str, ...] = ()

    @property
    def state(self) -> int:
        return self.values["STATE"]

    def get(self, key: str) -> int | None:
        return self.values.get(key)


@dataclass(slots=True)
class Line:
    """What one received line turned out to be."""

    kind: str  # a record kind, "BANNER", "CARD", "TEXT" or "BAD"
    text: str
    record: Record | None = None
    stat: Stat | None = None
    bad: str | None = None  # one of BAD_KINDS when kind == "BAD"
    detail: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


class LineBuffer:
    """Bytes in, complete lines out (§9.1): split on LF, strip CR, bound the remainder.

    `feed` returns raw lines (bytes); an over-long partial line is dropped and counted
    in `overlong` (its tail up to the next LF is dropped too, so no half line is parsed).
    """

    __slots__ = ("_buffer", "_discarding", "max_line", "overlong")

    def __init__(self, max_line: int = MAX_LINE) -> None:
        self._buffer = b""
        self._discarding = False
        self.max_line = max_line
        self.overlong = 0

    def clear(self) -> None:
        self._buffer = b""
        self._discarding = False

    def feed(self, data: bytes) -> list[bytes]:
        buffer = self._buffer + data if self._buffer else data
        lines: list[bytes] = []
        start = 0
        while True:
            end = buffer.find(b"\n", start)
            if end < 0:
                break
            if self._discarding:
                self._discarding = False  # the tail of an over-long line ends here
            else:
                line = buffer[start:end]
                if len(line) > self.max_line:
                    self.overlong += 1
                else:
                    lines.append(line[:-1] if line.endswith(b"\r") else line)
            start = end + 1
        rest = buffer[start:]
        if len(rest) > self.max_line:
            if not self._discarding:
                self.overlong += 1
            self._discarding = True
            rest = b""
        elif self._discarding:
            rest = b""
        self._buffer = rest
        return lines


def _split_fields(body: str) -> dict[str, str]:
    # The firmware never pads: no strip() on this hot path (a padded key is just unknown).
    fields: dict[str, str] = {}
    for part in body.split(";"):
        if part:
            key, _, value = part.partition("=")
            fields[key] = value
    return fields


def parse_stat(record: Record) -> tuple[Stat | None, str]:
    """A STAT record -> Stat, or None and why (non-integer value, required key missing)."""
    values: dict[str, int] = {}
    extra = []
    for key, value in record.fields.items():
        if not value.isdigit() or not value.isascii():
            return None, f"field {key}={value!r} is not an unsigned integer"
        values[key] = int(value)
        if key not in STAT_FIELDS and key != "ID":
            extra.append(key)
    missing = tuple(key for key in STAT_FIELDS if key not in values)
    for key in STAT_REQUIRED:
        if key not in values:
            return None, f"required field {key} missing"
    return Stat(values, missing, tuple(extra)), ""


def parse_line(raw: bytes) -> Line:
    """Classify one line (without its LF). Never raises."""
    # latin-1 maps every byte: a non-ASCII byte can never fail the decode (§9.1).
    text = raw.decode("latin-1")
    start = text.find("<")
    if start >= 0:
        end = text.find(">", start)
        if end > start:
            inner = text[start + 1 : end]
            kind, _, body = inner.partition(";")
            if kind in RECORD_KINDS:
                record = Record(kind, _split_fields(body), text[start : end + 1])
                if kind == "STAT":
                    stat, why = parse_stat(record)
                    if stat is None:
                        return Line("BAD", text, record, bad=BAD_STAT, detail=why)
                    return Line("STAT", text, record, stat=stat)
                if kind == "ACK" and ("CMD" not in record.fields or "STATUS" not in record.fields):
                    return Line(
                        "BAD", text, record, bad=BAD_RECORD, detail="ACK without CMD/STATUS"
                    )
                return Line(kind, text, record)
            if kind.isascii() and kind.isalpha() and kind.isupper():
                return Line("BAD", text, bad=BAD_UNKNOWN_RECORD, detail=f"unknown record {kind}")
    if text.startswith(BANNER_PREFIX):
        return Line("BANNER", text)
    if text.startswith("of") and text[2:].isdigit() and text[2:].isascii():
        return Line("CARD", text, extra={"passes": int(text[2:])})
    if not text.isascii():
        return Line("BAD", text, bad=BAD_NON_ASCII, detail="non-ASCII bytes, no record")
    if _is_known_text(text):
        return Line("TEXT", text)
    return Line("BAD", text, bad=BAD_GARBAGE, detail="no record in line")


# Free text the firmware or the ESP32 ROM prints on purpose (§4, §4.1): not counted as bad.
_KNOWN_TEXT_PREFIXES = (
    "USB: Monitoring",
    "GPIO UART:",
    "This code scan",
    "Using the following key:",
    "Kart ",
    "ets ",
    "rst:",
    "configsip:",
    "clk_drv:",
    "mode:",
    "load:",
    "entry 0x",
)


def _is_known_text(text: str) -> bool:
    return text == "" or text.startswith(_KNOWN_TEXT_PREFIXES)


def stat_line(values: dict[str, int]) -> bytes:
    """Format a STAT line exactly as the firmware does (used by the simulator and tests)."""
    body = "".join(f"{key}={values[key]};" for key in STAT_FIELDS)
    return f"<STAT;{body}>\r\n".encode("ascii")


def ack_line(command: str, status: str) -> bytes:
    return f"<ACK;CMD={command};STATUS={status};>\r\n".encode("ascii")
