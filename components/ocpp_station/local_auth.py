"""Local authorization, the same for both protocols: the authorization cache, the local
authorization list, and the one decision every authorization of the station goes through.

Sources: OCPP 2.0.1 Part 2 blocks C (C10 authorization cache, C11 ClearCache, C12-C15
offline / pre-authorization rules) and D (D01 SendLocalList, D02 GetLocalListVersion);
OCPP 1.6 §3.5 (Local Authorization List and Authorization Cache, §3.5.3 their relation)
and §5.15 / §5.4 / §5.9.

Tokens are kept by a *key* the protocol makes (1.6: the idTag; 2.0.1: type and idToken),
compared case-insensitively (1.6 IdToken and 2.0.1 IdTokenType.idToken are both case
insensitive). The token as sent (`token`: a JSON value, the 2.0.1 IdTokenType or the 1.6
idTag) and the CSMS's info (`info`: the 2.0.1 IdTokenInfoType / 1.6 IdTagInfo, camelCase)
are stored as they were received, so each protocol reports them in its own shape.

Both live in the journal's SQLite file (tables `auth_cache` and `auth_list`; the list's
version in the journal settings `local_list_version`), so they survive a restart; an
in-memory copy answers decisions without a database round trip.

The decision (`LocalAuth.authorize`):

- online, `LocalPreAuthorize` and the token in the list (else the cache) Accepted and not
  expired: Accepted at once from there (C12/C13, 1.6 §3.5); listed / cached with another
  status and the matching DisablePostAuthorize true: that status, the CSMS is not asked.
- otherwise online: the CSMS's answer (`ask()`), which updates the cache (every IdTokenInfo
  the CSMS returns, C10; a listed token is not cached, 1.6 §3.5.3).
- offline (or the CSMS could not be asked): with `LocalAuthorizeOffline` the list's, then
  the cache's entry (an entry past its expiry answers `Expired`); a token in neither is
  unknown: Accepted when `OfflineTxForUnknownIdEnabled` / `AllowOfflineTxForUnknownId`,
  else `Unknown` (1.6 answers it as `Invalid`).

The cache: an entry's cacheExpiryDateTime (2.0.1) / expiryDate (1.6) makes it `Expired`
after that time; `AuthCacheCtrlr.LifeTime` (s, 0 = none) drops an entry not used for that
long (counted from its last use); its size in bytes (`storage_used`) is kept
below `cache_storage` by dropping the least recently used entries (Policy LRU).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .journal import AsyncJournal

_LOGGER = logging.getLogger(__name__)

ACCEPTED = "Accepted"
UNKNOWN = "Unknown"
EXPIRED = "Expired"
FAILED = "Failed"
VERSION_MISMATCH = "VersionMismatch"
CACHE_STORAGE = 65536  # bytes the cache may take (AuthCacheCtrlr.Storage maxLimit)
LIST_MAX_ENTRIES = 1000  # LocalAuthListCtrlr.Entries maxLimit / 1.6 LocalAuthListMaxLength
LIST_ITEMS_PER_MESSAGE = 250  # LocalAuthListCtrlr.ItemsPerMessage / SendLocalListMaxLength
LIST_BYTES_PER_MESSAGE = 65000  # LocalAuthListCtrlr.BytesPerMessage
LIST_STORAGE = LIST_MAX_ENTRIES * 512  # bytes the list may take (LocalAuthListCtrlr.Storage)
VERSION_SETTING = "local_list_version"

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS auth_cache (
    key TEXT PRIMARY KEY,
    token TEXT NOT NULL,
    info TEXT NOT NULL,
    last_used REAL NOT NULL
)""",
    """CREATE TABLE IF NOT EXISTS auth_list (
    key TEXT PRIMARY KEY,
    token TEXT NOT NULL,
    info TEXT NOT NULL
)""",
)


@dataclass(frozen=True)
class AuthPolicy:
    """The settings a decision reads, taken from the device model / configuration keys
    at the moment of the decision (a SetVariables / ChangeConfiguration applies at once)."""

    cache_enabled: bool  # AuthCacheCtrlr.Enabled / AuthorizationCacheEnabled
    cache_lifetime: float  # AuthCacheCtrlr.LifeTime, s since last use; 0 = no limit
    cache_post_authorize: bool  # not AuthCacheCtrlr.DisablePostAuthorize
    list_enabled: bool  # LocalAuthListCtrlr.Enabled / LocalAuthListEnabled
    list_post_authorize: bool  # not LocalAuthListCtrlr.DisablePostAuthorize
    authorize_offline: bool  # AuthCtrlr.LocalAuthorizeOffline / LocalAuthorizeOffline
    pre_authorize: bool  # AuthCtrlr.LocalPreAuthorize / LocalPreAuthorize
    offline_unknown: bool  # OfflineTxForUnknownIdEnabled / AllowOfflineTxForUnknownId


@dataclass(frozen=True)
class Entry:
    """One token of the list or the cache."""

    key: str
    token: Any
    info: dict[str, Any]
    source: str  # "list" | "cache"


@dataclass(frozen=True)
class Decision:
    """The outcome of one authorization: `status` (AuthorizationStatusEnumType /
    AuthorizationStatus), `info` (the IdTokenInfo / IdTagInfo it came from, camelCase;
    `{"status": ...}` when made locally) and `source`: `csms`, `list`, `cache`,
    `offline_unknown` (OfflineTxForUnknownIdEnabled) or `unknown`."""

    status: str
    info: dict[str, Any]
    source: str


@dataclass(frozen=True)
class ListUpdate:
    """The outcome of a SendLocalList: `status` (Accepted | Failed | VersionMismatch,
    UpdateStatus / SendLocalListStatusEnumType) and, when Failed, `reason` (a 2.0.1
    StatusInfo reasonCode) and `detail` (its additionalInfo, naming the requirement)."""

    status: str
    reason: str | None = None
    detail: str | None = None


def _refusal(
    version: int,
    full: bool,
    entries: list[tuple[str, Any, dict[str, Any] | None]],
    clear_at_zero: bool,
) -> tuple[str, str] | None:
    """(reasonCode, additionalInfo) when a SendLocalList cannot be applied at all."""
    clearing = clear_at_zero and full and not entries
    if version < 0 or (version == 0 and not clearing):
        return "InvalidValue", f"version {version}: must be above 0 (D01.FR.18)"
    seen: set[str] = set()
    for key, _token, info in entries:
        if key in seen:
            return "InvalidValue", f"token {key} listed twice (D01.FR.06)"
        seen.add(key)
        if full and info is None:
            return "MissingParam", f"token {key} without its info in a Full update"
    return None


class NotAsked(Exception):
    """`ask()` could not reach the CSMS (no link, no answer): decide offline."""


def token_key(value: str, token_type: str | None = None) -> str:
    """The key of a token: 1.6 the idTag, 2.0.1 `<type>:<idToken>`, case-insensitive."""
    value = value.lower()
    return f"{token_type}:{value}" if token_type else value


def _expired(info: dict[str, Any], expiry_field: str, now: float) -> bool:
    text = info.get(expiry_field)
    if not text:
        return False
    try:
        when = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return False
    if when.tzinfo is None:
        return False
    return when.timestamp() <= now


def _size(token: Any, info: dict[str, Any]) -> int:
    return len(json.dumps(token)) + len(json.dumps(info))


class LocalAuth:
    """The authorization cache and the local list of one component (its journal), and the
    decision. `policy()` gives the settings; `expiry_field` is `cacheExpiryDateTime`
    (2.0.1) or `expiryDate` (1.6); `now()` is the wall clock (s since the epoch)."""

    def __init__(
        self,
        journal: AsyncJournal,
        policy: Callable[[], AuthPolicy],
        expiry_field: str,
        *,
        cache_storage: int = CACHE_STORAGE,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.journal = journal
        self.policy = policy
        self.expiry_field = expiry_field
        self.cache_storage = cache_storage
        self.now = now
        self.cache: dict[str, tuple[Any, dict[str, Any], float]] = {}  # key -> token, info, used
        self.local_list: dict[str, tuple[Any, dict[str, Any]]] = {}
        self.version = 0

    async def async_start(self) -> None:
        """Create the tables and load them (after the journal opened)."""
        for statement in _SCHEMA:
            await self.journal.execute(statement)
        for key, token, info, used in await self.journal.execute(
            "SELECT key, token, info, last_used FROM auth_cache"
        ):
            self.cache[key] = (json.loads(token), json.loads(info), float(used))
        for key, token, info in await self.journal.execute(
            "SELECT key, token, info FROM auth_list"
        ):
            self.local_list[key] = (json.loads(token), json.loads(info))
        self.version = int(await self.journal.get_setting(VERSION_SETTING, 0) or 0)

    # --- lookups ---------------------------------------------------------------------

    def lookup(self, key: str, policy: AuthPolicy | None = None) -> Entry | None:
        """The list's entry (when the list is enabled), else the cache's (when enabled and
        used within LifeTime); None when neither holds the token."""
        policy = policy or self.policy()
        if policy.list_enabled and key in self.local_list:
            token, info = self.local_list[key]
            return Entry(key, token, info, "list")
        cached = self.cache.get(key)
        if policy.cache_enabled and cached is not None:
            token, info, used = cached
            if policy.cache_lifetime > 0 and self.now() - used > policy.cache_lifetime:
                return None  # dropped out of the cache (removed at its next write)
            return Entry(key, token, info, "cache")
        return None

    def status_of(self, entry: Entry) -> str:
        """The entry's status now: its stored one, or Expired past its expiry time."""
        if _expired(entry.info, self.expiry_field, self.now()):
            return EXPIRED
        return str(entry.info.get("status", "Invalid"))

    # --- the decision ------------------------------------------------------------------

    async def authorize(
        self, key: str, token: Any, ask: Callable[[], Awaitable[dict[str, Any]]] | None
    ) -> Decision:
        """Decide one authorization (see the module doc). `ask()` sends the protocol's
        Authorize and returns the IdTokenInfo / IdTagInfo (camelCase), or raises NotAsked;
        `ask` None means offline. Never raises NotAsked."""
        policy = self.policy()
        entry = self.lookup(key, policy)
        if ask is not None:
            if policy.pre_authorize and entry is not None:
                status = self.status_of(entry)
                post = (
                    policy.list_post_authorize
                    if entry.source == "list"
                    else policy.cache_post_authorize
                )
                if status == ACCEPTED or not post:
                    await self._touch(entry)
                    return Decision(status, {**entry.info, "status": status}, entry.source)
            try:
                info = await ask()
            except NotAsked:
                pass
            else:
                await self.remember(key, token, info)
                return Decision(str(info.get("status", "Invalid")), info, "csms")
        if policy.authorize_offline and entry is not None:
            status = self.status_of(entry)
            await self._touch(entry)
            return Decision(status, {**entry.info, "status": status}, entry.source)
        if policy.offline_unknown:
            return Decision(ACCEPTED, {"status": ACCEPTED}, "offline_unknown")
        return Decision(UNKNOWN, {"status": UNKNOWN}, "unknown")

    async def _touch(self, entry: Entry) -> None:
        # the last use is kept in memory only: a write (an fsync) per presentation would
        # slow every authorization; it is stored with the entry's next change, so after
        # a restart an entry counts as used when it was last written
        if entry.source == "cache":
            token, info, _ = self.cache[entry.key]
            self.cache[entry.key] = (token, info, self.now())

    # --- the cache -----------------------------------------------------------------------

    async def remember(self, key: str, token: Any, info: dict[str, Any]) -> None:
        """An IdTokenInfo / IdTagInfo the CSMS returned (Authorize, TransactionEvent,
        Start/StopTransaction answers): stored in the cache when it is enabled, unless
        the token is on the local list (1.6 §3.5.3: the list has priority)."""
        policy = self.policy()
        if not policy.cache_enabled or not info.get("status"):
            return
        if policy.list_enabled and key in self.local_list:
            return
        used = self.now()
        known = self.cache.get(key)
        self.cache[key] = (token, dict(info), used)
        if known is not None and known[0] == token and known[1] == info:
            return  # unchanged (e.g. the same token's TransactionEvent answers): no write
        await self.journal.execute(
            "INSERT OR REPLACE INTO auth_cache (key, token, info, last_used) VALUES (?, ?, ?, ?)",
            (key, json.dumps(token), json.dumps(info), used),
        )
        await self._make_room(policy)

    async def _make_room(self, policy: AuthPolicy) -> None:
        """Drop entries past LifeTime, then the least recently used while the cache is
        larger than its storage (Policy LRU)."""
        now = self.now()
        gone = [
            key
            for key, (_, _, used) in self.cache.items()
            if policy.cache_lifetime > 0 and now - used > policy.cache_lifetime
        ]
        by_use = sorted((k for k in self.cache if k not in gone), key=lambda k: self.cache[k][2])
        size = sum(_size(self.cache[k][0], self.cache[k][1]) for k in by_use)
        while size > self.cache_storage and len(by_use) > 1:
            key = by_use.pop(0)
            size -= _size(self.cache[key][0], self.cache[key][1])
            gone.append(key)
        for key in gone:
            del self.cache[key]
            await self.journal.execute("DELETE FROM auth_cache WHERE key = ?", (key,))

    def cache_storage_used(self) -> int:
        """Bytes the cache holds (AuthCacheCtrlr.Storage)."""
        return sum(_size(token, info) for token, info, _ in self.cache.values())

    async def clear_cache(self) -> None:
        """ClearCache (C11, 1.6 §5.4): every cache entry is removed."""
        self.cache.clear()
        await self.journal.execute("DELETE FROM auth_cache")

    # --- the local list ------------------------------------------------------------------

    def list_storage_used(self) -> int:
        """Bytes the list holds (LocalAuthListCtrlr.Storage)."""
        return sum(_size(token, info) for token, info in self.local_list.values())

    async def update_list(
        self,
        version: int,
        full: bool,
        entries: list[tuple[str, Any, dict[str, Any] | None]],
        *,
        clear_at_zero: bool = False,
    ) -> ListUpdate:
        """SendLocalList (D01, 1.6 §5.15): `entries` are (key, token, info or None).

        Refused first, nothing changes (`Failed`, with the reason):
        - a version of 0 or below (2.0.1 D01.FR.18). 1.6 has no such rule, but there
          GetLocalListVersion 0 means "the list is empty" and -1 "not supported"
          (§5.9), so no list with entries can carry either: with `clear_at_zero`
          (1.6) a Full update without entries at version 0 is taken (it empties the
          list, which then has version 0 anyway), every other 0 or below is refused;
        - the same token twice (D01.FR.06; 1.6 §5.15 "all idTags ... MUST be unique"),
          compared by key, so case-insensitively;
        - a Full update with an entry without info (2.0.1 AuthorizationData.idTokenInfo
          / 1.6 idTagInfo: required when the update is Full);
        - more than LIST_MAX_ENTRIES entries after the update.
        Then a Differential update whose version is not above the installed one is
        `VersionMismatch` (D01.FR.19, 1.6 §5.15 / OCA TC_043_2_CS), nothing changes.
        Full: the list becomes exactly the entries (D01.FR.15; none: the list is empty
        and its version 0, D01.FR.04). Differential: an entry with info is added or
        replaced (D01.FR.16), one without is removed (D01.FR.17); no entries: only the
        version changes (D01.FR.05)."""
        refused = _refusal(version, full, entries, clear_at_zero)
        if refused is not None:
            return ListUpdate(FAILED, *refused)
        if not full and version <= self.version:
            return ListUpdate(VERSION_MISMATCH)
        new = {} if full else dict(self.local_list)
        for key, token, info in entries:
            if info is None:
                new.pop(key, None)
            else:
                new[key] = (token, dict(info))
        if len(new) > LIST_MAX_ENTRIES:
            return ListUpdate(FAILED, "TooManyElements", f"more than {LIST_MAX_ENTRIES} entries")
        self.local_list = new
        # an empty list has version 0 (1.6 §5.9 / OCA TC_042_2_CS, 2.0.1 D02)
        self.version = version if new else 0
        await self.journal.execute("DELETE FROM auth_list")
        for key, (token, info) in new.items():
            await self.journal.execute(
                "INSERT INTO auth_list (key, token, info) VALUES (?, ?, ?)",
                (key, json.dumps(token), json.dumps(info)),
            )
        await self.journal.set_setting(VERSION_SETTING, self.version)
        # a listed token is not kept in the cache as well (1.6 §3.5.3)
        for key in [k for k in self.cache if k in new]:
            del self.cache[key]
            await self.journal.execute("DELETE FROM auth_cache WHERE key = ?", (key,))
        return ListUpdate(ACCEPTED)

    # --- what the station holds about a token (CustomerInformation, N09/N10) ---------------

    def held_about(self, key: str) -> list[dict[str, Any]]:
        """The list and cache entries of a token: [{"source", "token", "info"}]."""
        found = []
        if key in self.local_list:
            token, info = self.local_list[key]
            found.append({"source": "localList", "token": token, "info": info})
        if key in self.cache:
            token, info, _ = self.cache[key]
            found.append({"source": "authCache", "token": token, "info": info})
        return found

    async def forget(self, key: str) -> None:
        """Remove a token from the cache (a CustomerInformation clear; the local list is
        the CSMS's to change, through SendLocalList)."""
        if self.cache.pop(key, None) is not None:
            await self.journal.execute("DELETE FROM auth_cache WHERE key = ?", (key,))
