"""1.6 Reset and the transaction table (1.6 §5.14, `ocpp_station/running.py`): a
transaction leaves the table only once its StopTransaction is in the journal, so the
reset's "every end journaled" check (an empty table) never lets the restart run before
the StopTransaction is written."""

from __future__ import annotations

import asyncio
from typing import Any

from ocpp16_helpers import PASSWORD, STATION, FakeController, station_yaml

from tests.ocpp_csms import OcppCsms


async def test_soft_reset_journals_the_stop_transaction_before_the_table_empties(
    config_dir: Any, start_station: Any
) -> None:
    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
        config = config_dir(station_yaml(csms.url(), reset_action="{action: fake.reboot}"))
        hub, _ = await start_station(config)
        station = hub.data["ocpp16"]
        controller = FakeController(hub)
        controller.state("idle")
        await csms.wait_for("StatusNotification")
        controller.state("charging")  # a local session: StartTransaction
        await csms.wait_for("StartTransaction")

        held_at_stop: list[set[int]] = []  # the table when StopTransaction is journaled
        metrics_hook = station.journal.on_append

        def watch(entry: Any) -> None:
            if entry.action == "StopTransaction":
                held_at_stop.append(set(station.txs))
            if metrics_hook is not None:
                metrics_hook(entry)

        station.journal.on_append = watch
        at_reboot: list[tuple[set[int], list[str]]] = []

        async def reboot(_call: Any) -> None:
            pending = [e.action for e in await station.journal.pending()]
            delivered = ["StopTransaction"] * len(csms.received("StopTransaction"))
            at_reboot.append((set(station.txs), pending + delivered))

        hub.services.async_register("fake", "reboot", reboot)
        assert await csms.reset(STATION, "Soft") == {"status": "Accepted"}
        for _ in range(200):
            if at_reboot:
                break
            await asyncio.sleep(0.05)
        assert held_at_stop == [{1}]  # still held while its StopTransaction was written
        (table, journaled) = at_reboot[0]
        assert table == set() and "StopTransaction" in journaled
        stop = (await csms.wait_for("StopTransaction"))[0].payload
        assert stop["reason"] == "SoftReset"
        await asyncio.sleep(0.3)
        assert len(csms.received("StopTransaction")) == 1
