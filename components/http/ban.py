"""Banning clients that fail to authenticate too often.

Failures are counted per client address (after X-Forwarded-For resolution through a
trusted proxy). At `login_attempts_threshold` failures the address is banned: every
further request gets 403 until an operator removes it from `.storage/ip_bans.yaml`
(the file Home Assistant keeps, same shape) and restarts. A successful login resets the
count, as in Home Assistant.

IPv6 clients are counted and banned by their /64 network: one host usually holds a whole
/64 and could otherwise take a fresh address for every ten guesses.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from ipaddress import IPv4Address, IPv6Address, ip_address, ip_network
from typing import Any

import yaml

from orge.storage import storage_path, write_private_file

_LOGGER = logging.getLogger(__name__)
BANS_FILE = "ip_bans.yaml"

IPAddress = IPv4Address | IPv6Address


def client_key(address: IPAddress) -> str:
    """What failures and bans are counted by: the address, or an IPv6 client's /64."""
    if isinstance(address, IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ip_network(f"{address}/64", strict=False))
    return str(address)


class BanManager:
    def __init__(self, config_dir: str, enabled: bool, threshold: int) -> None:
        self.path = storage_path(config_dir, BANS_FILE)
        self.enabled = enabled and threshold > 0
        self.threshold = threshold
        self.failures: dict[str, int] = {}
        self.banned: dict[str, str] = {}  # client_key -> when

    def load(self) -> None:
        """Read the bans file (blocking: run in the executor)."""
        try:
            with open(self.path, encoding="utf-8") as handle:
                data = yaml.safe_load(handle) or {}
        except FileNotFoundError:
            return
        except (OSError, yaml.YAMLError) as err:
            _LOGGER.error("Cannot read %s: %s; starting with no bans", self.path, err)
            return
        if not isinstance(data, dict):
            _LOGGER.error("%s is not a mapping of addresses; ignoring it", self.path)
            return
        for key, value in data.items():
            try:
                text = str(key)
                banned = (
                    str(ip_network(text, strict=False))
                    if "/" in text
                    else client_key(ip_address(text))
                )
            except ValueError:
                _LOGGER.warning("Ignoring invalid address %r in %s", key, self.path)
                continue
            banned_at = value.get("banned_at", "") if isinstance(value, dict) else ""
            self.banned[banned] = str(banned_at)

    def is_banned(self, address: IPAddress | None) -> bool:
        return address is not None and client_key(address) in self.banned

    def record_success(self, address: IPAddress | None) -> None:
        if address is not None and self.failures:
            self.failures.pop(client_key(address), None)

    def record_failure(self, address: IPAddress | None, reason: str) -> bool:
        """Count a failure; True if the address is now banned (caller saves the file)."""
        _LOGGER.warning("Login attempt failed from %s: %s", address or "unknown", reason)
        if not self.enabled or address is None:
            return False
        key = client_key(address)
        count = self.failures.get(key, 0) + 1
        self.failures[key] = count
        if count < self.threshold:
            return False
        self.failures.pop(key, None)
        self.banned[key] = datetime.now(UTC).isoformat()
        _LOGGER.warning("Banned %s after %d failed login attempts", key, count)
        return True

    def save(self) -> None:
        """Write the bans file atomically (blocking: run in the executor)."""
        data: dict[str, Any] = {key: {"banned_at": at} for key, at in self.banned.items()}
        text = yaml.safe_dump(data, default_flow_style=False)
        write_private_file(self.path, text.encode("utf-8"))
