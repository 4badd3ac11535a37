"""The outbox's bounds and the reconnect back-off, without a broker."""

from __future__ import annotations

import random
import statistics

from components.mqtt.link import backoff_delay
from components.mqtt.outbox import Outbox


async def test_latest_value_per_topic_wins() -> None:
    box = Outbox(max_pending=10, event_buffer=5)
    for value in range(600):  # a 1 Hz meter through a ten-minute outage
        box.put_latest("orge/S/sensor/meter_power/state", str(value).encode())
    box.put_latest("orge/S/sensor/charger_state/state", b"charging")
    assert len(box) == 2
    assert box.take() == ("orge/S/sensor/meter_power/state", b"599", True)
    assert box.take() == ("orge/S/sensor/charger_state/state", b"charging", True)
    assert box.take() is None
    assert box.dropped == 0


async def test_bounds_drop_the_oldest() -> None:
    box = Outbox(max_pending=10, event_buffer=3)
    for n in range(25):
        box.put_latest(f"t/{n}", b"x")
    for n in range(7):
        box.put_event("e", str(n).encode())
    assert len(box) == 13
    assert box.dropped == 15 + 4
    taken = [box.take() for _ in range(13)]
    assert [t[0] for t in taken[:10]] == [f"t/{n}" for n in range(15, 25)]
    assert [t[1] for t in taken[10:]] == [b"4", b"5", b"6"]


async def test_put_back_keeps_a_newer_payload() -> None:
    box = Outbox(max_pending=10, event_buffer=3)
    box.put_latest("t", b"old")
    item = box.take()
    assert item is not None
    box.put_latest("t", b"new")
    box.put_back(item)  # the send of "old" failed; "new" is already waiting
    assert box.take() == ("t", b"new", True)
    box.put_event("e", b"1")
    event = box.take()
    assert event is not None
    box.put_back(event)
    assert box.take() == ("e", b"1", False)


def test_backoff_is_spread_and_bounded() -> None:
    """Full jitter: 150 stations retrying after the same outage do not come back together."""
    rng_state = random.getstate()
    random.seed(14)
    try:
        first = [backoff_delay(0, 1.0, 120.0) for _ in range(150)]
        fifth = [backoff_delay(5, 1.0, 120.0) for _ in range(150)]
        late = [backoff_delay(40, 1.0, 120.0) for _ in range(150)]
    finally:
        random.setstate(rng_state)
    assert all(0.01 <= d <= 1.0 for d in first)
    assert all(0.01 <= d <= 32.0 for d in fifth)
    assert all(0.01 <= d <= 120.0 for d in late)
    # Uniform over the window: a standard deviation near window / sqrt(12).
    assert 0.2 < statistics.pstdev(first) < 0.4
    assert 7 < statistics.pstdev(fifth) < 11.5
    # 150 draws over 1000 ms: about 11 share a millisecond by chance (birthday bound).
    assert len({round(d, 3) for d in first}) > 130


def test_check_config_names_file_and_line(config_dir) -> None:  # type: ignore[no-untyped-def]
    from orge.setup import check_configuration

    path = config_dir(
        "mqtt:\n  broker: 127.0.0.1\n  base_topic: orge/#\n  protocol: 4.0\n"
        "  allowed_services: [not a service]\n  client_key: /k.pem\n"
    )
    problems = check_configuration(str(path)).problems
    text = "\n".join(problems)
    assert "line 3" in text and "base_topic" in text, text
    path = config_dir("mqtt:\n  broker: 127.0.0.1\n  client_key: /k.pem\n")
    problems = check_configuration(str(path)).problems
    assert any("client_key is set without client_cert" in p and "line" in p for p in problems), (
        problems
    )
