"""The serial link to the controller: open, read lines, reconnect, one frame at a time.

- Reading (§9.1): every received byte goes through `LineBuffer` and `parse_line`; each line
  is handed to `on_line` before any waiting command sees it, so a READSTAT's STAT has
  updated the entities by the time its ACK resolves the command.
- Writing (§9.2): `exchange` holds a lock, so exactly one frame is outstanding; the answer
  is matched by a predicate (the ACK's CMD name), not by arrival order. After a timeout
  it waits one more pass and lets late answers fall on the floor before the next frame.
- Connection loss (§9.6): EOF/EIO or a vanished device path closes the port; it is
  reopened with back-off 0.5, 1, 2, 4 ... `backoff_max` s. While it is down `exchange`
  fails at once: nothing is queued silently.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

import serial_asyncio

from . import protocol as p
from .errors import FrameCorrupted, SerialLinkDown

_LOGGER = logging.getLogger(__name__)

# A connection shorter than this does not reset the back-off (a port that opens and
# drops at once must not be hammered).
_STABLE_AFTER = 5.0


_INVALID = object()  # a waiter's result when the controller reported a bad separator


class _Protocol(asyncio.Protocol):
    __slots__ = ("_link",)

    def __init__(self, link: Esp32Link) -> None:
        self._link = link

    def data_received(self, data: bytes) -> None:
        self._link.data_received(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self._link.connection_lost(exc)


class Esp32Link:
    """One serial port, reopened forever until `close()`."""

    def __init__(
        self,
        port: str,
        baudrate: int,
        on_line: Callable[[p.Line], None],
        on_connection: Callable[[bool], None],
        *,
        backoff_initial: float = 0.5,
        backoff_max: float = 10.0,
        late_grace: float = 0.3,
    ) -> None:
        self.port = port
        self.baudrate = baudrate
        self.on_line = on_line
        self.on_connection = on_connection
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.late_grace = late_grace
        self.buffer = p.LineBuffer()
        self.connected = False
        self.last_error: str | None = None
        self.lines_received = 0
        self.frames_sent = 0  # orge_esp32_frames_sent_total (metrics.py)
        self._transport: asyncio.Transport | None = None
        self._lost: asyncio.Future[Exception | None] | None = None
        self._lock = asyncio.Lock()
        self._waiter: tuple[Callable[[p.Line], bool], asyncio.Future[object]] | None = None
        self._closed = False
        self.next_retry_in: float | None = None

    @property
    def busy(self) -> bool:
        return self._lock.locked()

    # --- connection -------------------------------------------------------------------

    async def run(self) -> None:
        """Open the port, wait until it is lost, reopen with back-off. Runs until close()."""
        loop = asyncio.get_running_loop()
        delay = self.backoff_initial
        failures = 0
        while not self._closed:
            try:
                transport, _ = await serial_asyncio.create_serial_connection(
                    loop, lambda: _Protocol(self), self.port, baudrate=self.baudrate
                )
            except Exception as err:  # any failure to open means "retry later"
                failures += 1
                self.last_error = str(err)
                # The first failure is news; repeats of a missing device are not.
                log = _LOGGER.warning if failures == 1 else _LOGGER.debug
                log("Cannot open %s: %s; retrying in %.1f s", self.port, err, delay)
                self.next_retry_in = delay
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.backoff_max)
                continue
            failures = 0
            self.next_retry_in = None
            self._transport = transport
            self._lost = loop.create_future()
            self.buffer.clear()
            self.connected = True
            self.last_error = None
            opened = time.monotonic()
            _LOGGER.info("Serial link to %s open", self.port)
            self.on_connection(True)
            try:
                exc = await self._lost
            finally:
                self._drop_connection()
            if self._closed:
                break
            self.last_error = str(exc) if exc else "port closed"
            _LOGGER.warning("Serial link to %s lost: %s", self.port, self.last_error)
            self.on_connection(False)
            if time.monotonic() - opened >= _STABLE_AFTER:
                delay = self.backoff_initial
            self.next_retry_in = delay
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.backoff_max)

    def _drop_connection(self) -> None:
        self.connected = False
        transport, self._transport = self._transport, None
        if transport is not None:
            with contextlib.suppress(Exception):
                transport.abort()
        self._fail_waiter(SerialLinkDown(f"serial link to {self.port} lost"))

    def connection_lost(self, exc: Exception | None) -> None:
        if self._lost is not None and not self._lost.done():
            self._lost.set_result(exc)

    async def close(self) -> None:
        self._closed = True
        self.connection_lost(None)
        if self._transport is not None:
            self._drop_connection()

    # --- reading --------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer
        overlong = buffer.overlong
        raws = buffer.feed(data)
        if buffer.overlong != overlong:
            for _ in range(buffer.overlong - overlong):
                self.on_line(
                    p.Line("BAD", "", bad=p.BAD_OVERLONG, detail=f"no LF within {p.MAX_LINE} bytes")
                )
        for raw in raws:
            self.lines_received += 1
            line = p.parse_line(raw)
            try:
                self.on_line(line)
            except Exception:  # a handler bug must not kill the reader
                _LOGGER.exception("Error handling line %r", line.text[:120])
            waiter = self._waiter
            if waiter is not None and not waiter[1].done():
                if line.kind == "ERR" and "INVALID_COMMA" in line.text:
                    waiter[1].set_result(_INVALID)
                elif waiter[0](line):
                    waiter[1].set_result(line)

    def _fail_waiter(self, err: Exception) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter[1].done():
            waiter[1].set_exception(err)

    # --- writing --------------------------------------------------------------------

    def _write(self, data: bytes) -> None:
        if not self.connected or self._transport is None:
            raise SerialLinkDown(f"serial link to {self.port} is down")
        self._transport.write(data)
        self.frames_sent += 1

    async def exchange(
        self,
        data: bytes,
        match: Callable[[p.Line], bool] | None,
        timeout: float,
    ) -> p.Line | None:
        """Send one frame and wait for the line `match` accepts.

        Returns the line, or None on timeout (after the late-answer grace period), or at
        once None when `match` is None (a frame without an answer). Raises SerialLinkDown when
        the port is closed or closes meanwhile; resends once on <ERR;INVALID_COMMA>.
        """
        if not self.connected:
            raise SerialLinkDown(f"serial link to {self.port} is down")
        async with self._lock:
            loop = asyncio.get_running_loop()
            for attempt in range(2):
                if match is None:
                    self._write(data)
                    return None
                future: asyncio.Future[object] = loop.create_future()
                self._waiter = (match, future)
                try:
                    self._write(data)
                    result = await asyncio.wait_for(future, timeout)
                except TimeoutError:
                    self._waiter = None
                    # A late answer may still come: let it arrive unmatched, then go on.
                    await asyncio.sleep(self.late_grace)
                    return None
                finally:
                    self._waiter = None
                if result is _INVALID:
                    if attempt == 0:
                        _LOGGER.warning(
                            "Frame %s arrived corrupted; sending it again", data.hex(" ")
                        )
                        continue
                    raise FrameCorrupted(
                        f"the controller reported a corrupted frame twice ({data.hex(' ')})"
                    )
                assert isinstance(result, p.Line)
                return result
        return None  # pragma: no cover
