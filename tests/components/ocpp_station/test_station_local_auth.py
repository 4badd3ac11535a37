"""ocpp_station.local_auth on a real journal file: the decision's order (OCPP 2.0.1
C10-C15, 1.6 §3.5), the cache's LifeTime, expiry and LRU storage limit, the list's
priority and versions, and both surviving a reopen. The protocol adapters are tested
against the test CSMS in test_ocpp201_local_auth.py / test_ocpp16_local_auth.py."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from components.ocpp_station.journal import AsyncJournal
from components.ocpp_station.local_auth import AuthPolicy, LocalAuth, NotAsked, token_key

POLICY = AuthPolicy(
    cache_enabled=True,
    cache_lifetime=0.0,
    cache_post_authorize=True,
    list_enabled=True,
    list_post_authorize=True,
    authorize_offline=True,
    pre_authorize=False,
    offline_unknown=False,
)


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


async def _auth(path: Path, policy: list[AuthPolicy], clock: Clock, **kw: Any) -> LocalAuth:
    journal = AsyncJournal(str(path))
    await journal.open()
    auth = LocalAuth(journal, lambda: policy[0], "cacheExpiryDateTime", now=clock, **kw)
    await auth.async_start()
    return auth


def _csms(status: str, **extra: Any) -> Any:
    calls: list[int] = []

    async def ask() -> dict[str, Any]:
        calls.append(1)
        return {"status": status, **extra}

    ask.calls = calls  # type: ignore[attr-defined]
    return ask


async def _unreachable() -> dict[str, Any]:
    raise NotAsked


async def test_online_asks_and_caches_offline_uses_list_then_cache(tmp_path: Path) -> None:
    clock, policy = Clock(), [POLICY]
    auth = await _auth(tmp_path / "j.db", policy, clock)
    ask = _csms("Accepted")
    decision = await auth.authorize(token_key("CARD"), "CARD", ask)
    assert (decision.status, decision.source, ask.calls) == ("Accepted", "csms", [1])
    assert auth.cache["card"][1] == {"status": "Accepted"}
    # offline (no link, or the CSMS does not answer): the cache decides
    assert (await auth.authorize("card", "card", None)).source == "cache"
    assert (await auth.authorize("card", "card", _unreachable)).status == "Accepted"
    # the list wins over the cache, and a listed token is not cached again
    update = await auth.update_list(1, True, [("card", "CARD", {"status": "Blocked"})])
    assert update.status == "Accepted"
    assert "card" not in auth.cache
    offline = await auth.authorize("card", "card", None)
    assert (offline.status, offline.source) == ("Blocked", "list")
    await auth.remember("card", "CARD", {"status": "Accepted"})
    assert "card" not in auth.cache
    # unknown offline: Unknown, or Accepted with the offline-unknown rule
    assert (await auth.authorize("x", "X", None)).status == "Unknown"
    policy[0] = replace(POLICY, offline_unknown=True)
    unknown = await auth.authorize("x", "X", None)
    assert (unknown.status, unknown.source) == ("Accepted", "offline_unknown")
    # LocalAuthorizeOffline false: list and cache are not consulted offline
    policy[0] = replace(POLICY, authorize_offline=False)
    assert (await auth.authorize("card", "card", None)).status == "Unknown"


async def test_pre_authorize_and_post_authorize(tmp_path: Path) -> None:
    clock, policy = Clock(), [replace(POLICY, pre_authorize=True)]
    auth = await _auth(tmp_path / "j.db", policy, clock)
    await auth.update_list(
        1, True, [("ok", "OK", {"status": "Accepted"}), ("bad", "BAD", {"status": "Blocked"})]
    )
    ask = _csms("Accepted")
    assert (await auth.authorize("ok", "OK", ask)).source == "list"
    assert ask.calls == []
    # not Accepted on the list: asked of the CSMS (post-authorize) ...
    assert (await auth.authorize("bad", "BAD", ask)).source == "csms"
    assert ask.calls == [1]
    # ... unless DisablePostAuthorize
    policy[0] = replace(policy[0], list_post_authorize=False)
    decision = await auth.authorize("bad", "BAD", ask)
    assert (decision.status, decision.source, ask.calls) == ("Blocked", "list", [1])


async def test_expiry_lifetime_and_lru(tmp_path: Path) -> None:
    clock, policy = Clock(), [replace(POLICY, cache_lifetime=100.0)]
    auth = await _auth(tmp_path / "j.db", policy, clock)
    # cacheExpiryDateTime in the past: Expired
    await auth.remember(
        "old", "OLD", {"status": "Accepted", "cacheExpiryDateTime": "2020-01-01T00:00:00Z"}
    )
    assert (await auth.authorize("old", "OLD", None)).status == "Expired"
    # LifeTime: not used for more than 100 s -> no longer in the cache
    await auth.remember("t", "T", {"status": "Accepted"})
    clock.now += 60
    assert (await auth.authorize("t", "T", None)).status == "Accepted"  # used: counts anew
    clock.now += 60
    assert (await auth.authorize("t", "T", None)).status == "Accepted"
    clock.now += 101
    assert (await auth.authorize("t", "T", None)).status == "Unknown"
    # LRU within the storage: room for about two entries of this size
    size = len('"A"') + len('{"status": "Accepted"}')
    auth.cache_storage = 2 * size
    policy[0] = POLICY
    await auth.clear_cache()
    await auth.remember("a", "A", {"status": "Accepted"})
    clock.now += 1
    await auth.remember("b", "B", {"status": "Accepted"})
    clock.now += 1
    await auth.authorize("a", "A", None)  # a used after b
    clock.now += 1
    await auth.remember("c", "C", {"status": "Accepted"})
    assert sorted(auth.cache) == ["a", "c"]
    assert auth.cache_storage_used() == 2 * size


async def test_versions_and_reopen(tmp_path: Path) -> None:
    clock, policy = Clock(), [POLICY]
    path = tmp_path / "j.db"
    auth = await _auth(path, policy, clock)
    assert auth.version == 0
    a_entry, b_entry = ("a", "A", {"status": "Accepted"}), ("b", "B", {"status": "Accepted"})
    assert (await auth.update_list(3, True, [a_entry])).status == "Accepted"
    assert (await auth.update_list(3, False, [b_entry])).status == "VersionMismatch"
    assert (await auth.update_list(4, False, [b_entry])).status == "Accepted"
    assert (await auth.update_list(5, False, [("a", "A", None)])).status == "Accepted"
    await auth.remember("c", "C", {"status": "Accepted"})
    await auth.journal.close()
    again = await _auth(path, policy, clock)
    assert again.version == 5
    assert again.local_list == {"b": ("B", {"status": "Accepted"})}
    assert again.cache["c"][:2] == ("C", {"status": "Accepted"})
    assert again.held_about("b") == [
        {"source": "localList", "token": "B", "info": {"status": "Accepted"}}
    ]
    await again.forget("c")
    assert "c" not in again.cache
    await again.journal.close()
    third = await _auth(path, policy, clock)
    assert "c" not in third.cache
    await third.journal.close()


@pytest.mark.parametrize(
    ("value", "kind", "key"), [("AbC", None, "abc"), ("AbC", "ISO14443", "ISO14443:abc")]
)
def test_token_key_is_case_insensitive(value: str, kind: str | None, key: str) -> None:
    assert token_key(value, kind) == key
