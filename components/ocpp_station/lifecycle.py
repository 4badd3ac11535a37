"""One station lifecycle for both protocols: standby, adopt, connect, session, back-off.

`StationLifecycle.run_lifecycle()` is the loop both components run (as a background task):

1. standby: while the role is not active (a fallback whose primary is up), wait;
2. adopt: sessions that began while on standby become transactions now (`adopt_sessions`);
3. connect: take a socket the other component left on this URL (shared-URL hand-over),
   else dial (`connection.open_connection`) offering `subprotocols()`;
4. session: the protocol's boot and session run on the socket (`run_session`) until it
   closes; it returns a `ConnectFailed` when the CSMS refused the station (boot Rejected,
   the other protocol agreed on a shared URL);
5. back-off: a refusal or failure is reported to the role (hand-over to the fallback),
   then the loop waits `ReconnectBackoff.next_delay()` (`pause_before_retry`) and starts
   again. Step-down (the primary is back) is the role's `on_deactivate` hook.

The protocol components provide the hooks below; everything else is shared.
"""

from __future__ import annotations

import logging
from typing import Any

from .connection import ConnectFailed, Connection, open_connection
from .metrics import ocpp_metrics
from .urls import safe_url

_LOGGER = logging.getLogger(__name__)


class StationLifecycle:
    """Mixin of a protocol's station. Needs `role`, `backoff`, `url`, `station_id`,
    `password`, `config`, `wire_logger` and the hooks; `stopping` ends the loop."""

    orge: Any
    role: Any
    backoff: Any
    url: str
    station_id: str
    password: str | None
    config: dict[str, Any]
    wire_logger: logging.Logger
    stopping: bool = False
    # the socket the session runs on (None between connections)
    current_connection: Connection | None = None
    protocol_label = "OCPP"
    # the link state shown while waiting after a refusal (2.0.1 shows "rejected"; 1.6's
    # sensor has always shown "disconnected" and its users rely on that)
    refused_link_state = "rejected"

    # --- hooks ---------------------------------------------------------------------

    def subprotocols(self) -> list[str]:
        raise NotImplementedError

    def ping_interval(self) -> float:
        raise NotImplementedError

    def open_timeout(self) -> float:
        return float(self.config["response_timeout"])

    def set_link_state(self, state: str, **attributes: Any) -> None:
        raise NotImplementedError

    def report_error(self, message: str) -> None:
        raise NotImplementedError

    def adopt_sessions(self) -> None:
        """Sessions running with no transaction of ours become transactions (take-over)."""

    async def run_session(self, connection: Connection) -> ConnectFailed | None:
        """Boot and serve the connection until it closes; a ConnectFailed if refused."""
        raise NotImplementedError

    def connect_options(self) -> dict[str, Any]:
        """The credentials of the next connection: `password` (None: no Basic auth, as
        under security profile 3), `ca_file`, `verify_tls`, `trusted`, `client_cert`
        (keywords of `open_connection`). Asked before each dial, so a new password,
        certificate or network profile applies from the next connection."""
        return {
            "password": self.password,
            "ca_file": self.config.get("ca_file"),
            "verify_tls": self.config["verify_tls"],
        }

    async def connect_failed(self, failure: ConnectFailed) -> bool:
        """A dial failed (`failure.status` is the HTTP status when there was one): e.g.
        fall back to the previous password or network profile. True when the failure
        was a new password the CSMS refused and the old one is back (2.0.1 A01, 1.6
        whitepaper AuthorizationKey): the loop dials again at once on this protocol and
        the role does not count it (no hand-over to the other protocol)."""
        return False

    def invalid_frame(self, description: str) -> None:
        """The CSMS sent a frame that is not a valid OCPP-J message (answered with a
        CALLERROR): the security event InvalidMessages (`StationSecurity.invalid_message`)."""

    def session_ended(self) -> None:
        """The socket is gone: forget per-connection state."""

    async def pause_before_retry(self, delay: float, failure: ConnectFailed | None) -> None:
        raise NotImplementedError

    def apply_ping_interval(self) -> None:
        """WebSocketPingInterval changed (ChangeConfiguration / SetVariables): the open
        socket pings at the new interval at once, 0 = off (the next socket is opened
        with it anyway)."""
        if self.current_connection is not None:
            self.current_connection.set_ping_interval(self.ping_interval())

    # --- the loop --------------------------------------------------------------------

    async def run_lifecycle(self) -> None:
        counts = ocpp_metrics(self.orge)  # the socket's counts for /api/metrics
        while not self.stopping:
            if not self.role.active:
                self.set_link_state("standby")
                await self.role.wait_active()
            # Taking over (or back after a step-down): idempotent while active.
            self.adopt_sessions()
            self.set_link_state("connecting")
            offered = self.subprotocols()
            failure: ConnectFailed | None = None
            connection = self.role.take_handover(self.url, offered[0])
            if connection is not None:
                _LOGGER.info(
                    "%s: taking over the socket the CSMS agreed on with the other component",
                    self.protocol_label,
                )
            else:
                options = self.connect_options()
                try:
                    connection = await open_connection(
                        self.url,
                        self.station_id,
                        options.pop("password"),
                        offered,
                        **options,
                        ping_interval=self.ping_interval(),
                        open_timeout=self.open_timeout(),
                        wire_logger=self.wire_logger,
                    )
                except ConnectFailed as err:
                    if await self.connect_failed(err):
                        _LOGGER.warning(
                            "%s: the CSMS refused the new password (HTTP %s); connecting "
                            "again with the old one",
                            self.protocol_label,
                            err.status,
                        )
                        continue
                    failure = err
            if connection is not None:
                connection.metrics = counts
                connection.on_invalid_frame = self.invalid_frame
                if not self.role.active:  # the primary came back while we were dialling
                    await connection.close()
                    continue
                # one INFO line per (re)connection (issue 10 point 7), never a credential
                _LOGGER.info(
                    "%s: connected to %s (%s)",
                    self.protocol_label,
                    safe_url(self.url),
                    connection.subprotocol,
                )
                self.current_connection = connection
                try:
                    failure = await self.run_session(connection)
                except Exception as err:  # keep the link alive whatever happened
                    _LOGGER.exception("%s session failed", self.protocol_label)
                    self.report_error(f"{type(err).__name__}: {err}")
                finally:
                    self.current_connection = None
                    if failure is None or not failure.shared_url:
                        await connection.close()  # (a handed-over socket stays open)
                    self.session_ended()
                    self.role.report_disconnected()
            if self.stopping:
                break
            if failure is not None:
                _LOGGER.warning("%s link to %s: %s", self.protocol_label, self.url, failure)
                self.report_error(failure.message)
                self.role.report_failure(failure.message, refused=failure.refused)
            delay = self.backoff.next_delay()
            self.set_link_state(
                self.refused_link_state
                if failure is not None and failure.refused
                else "disconnected",
                retry_in=round(delay, 1),
            )
            _LOGGER.info("%s: reconnecting in %.1f s", self.protocol_label, delay)
            await self.pause_before_retry(delay, failure)
