"""Running the ngrok agent ourselves (`agent:`), restarting it with back-off when it exits.

The authtoken goes to the agent in its environment (NGROK_AUTHTOKEN), never on the command
line where `ps` would show it, and the agent gets nothing else of the station's environment
(which holds OCPP_STATION_PASSWORD).
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable
from typing import Any

_LOGGER = logging.getLogger(__name__)
MAX_RESTART_DELAY = 300.0
_AGENT_ENV_KEYS = ("PATH", "HOME", "LANG", "TZ", "XDG_CONFIG_HOME", "SSL_CERT_FILE", "SSL_CERT_DIR")


def agent_environment(authtoken: str) -> dict[str, str]:
    """The agent's environment: its token, a PATH and a home for its config; nothing more."""
    env = {key: os.environ[key] for key in _AGENT_ENV_KEYS if key in os.environ}
    env["NGROK_AUTHTOKEN"] = authtoken
    return env


class AgentSupervisor:
    """Runs `ngrok http <port>`; `on_exit` is awaited after each exit (to re-read the API)."""

    def __init__(self, config: dict[str, Any], on_exit: Callable[[], Awaitable[None]]) -> None:
        self.config = config
        self.restarts = 0
        self.last_exit: str | None = None
        self._on_exit = on_exit
        self._process: asyncio.subprocess.Process | None = None

    def command_line(self) -> list[str]:
        args = [self.config["command"], "http", str(self.config["port"]), "--log", "stdout"]
        if self.config.get("domain"):
            args += ["--domain", self.config["domain"]]
        return args

    async def run(self) -> None:
        """Run forever (a background task): wait doubles up to 5 min while it keeps failing."""
        first_delay = self.config["restart_delay"].total_seconds()
        delay = first_delay
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            try:
                self._process = await asyncio.create_subprocess_exec(
                    *self.command_line(),
                    env=agent_environment(self.config["authtoken"]),
                    stdout=asyncio.subprocess.DEVNULL,
                    stderr=asyncio.subprocess.DEVNULL,
                )
                code = await self._process.wait()
                self.last_exit = f"ngrok agent exited with code {code}"
            except OSError as err:
                self.last_exit = f"cannot start ngrok agent: {err.strerror or err}"
            _LOGGER.warning("%s; restarting in %.0f s", self.last_exit, delay)
            self.restarts += 1
            await self._on_exit()
            if loop.time() - started > 60:
                delay = first_delay  # it ran for a while: a fresh failure, not a crash loop
            await asyncio.sleep(delay)
            delay = min(delay * 2, MAX_RESTART_DELAY)

    async def stop(self) -> None:
        process = self._process
        if process is None or process.returncode is not None:
            return
        process.terminate()
        try:
            await asyncio.wait_for(process.wait(), 3)
        except TimeoutError:
            process.kill()
