"""The meter's figures of /api/metrics (components/modbus_meter/metrics.py) over real HTTP,
parsed by prometheus_client's text parser, against pymodbus's server: the requests counted
are the requests the server received."""

from __future__ import annotations

import aiohttp
from prometheus_client.parser import text_string_to_metric_families
from pymodbus.constants import ExcCodes

from components.http.auth import create_token
from tests.components.http.conftest import free_port

from .conftest import wait_until
from .test_modbus_meter_faults import station_yaml, tcp


async def scrape(port: int, token: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    async with aiohttp.ClientSession() as session:
        response = await session.get(
            f"http://127.0.0.1:{port}/api/metrics", headers={"Authorization": f"Bearer {token}"}
        )
        assert response.status == 200
        text = await response.text()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def test_meter_reads_counted(config_dir, start_station, tcp_meter) -> None:
    meter, modbus_port = await tcp_meter("eastron_sdm630")
    http_port = free_port()
    yaml = station_yaml(tcp(modbus_port), name="meter") + (
        f"http:\n  server_host: 127.0.0.1\n  server_port: {http_port}\n"
    )
    path = config_dir(yaml)
    token = create_token(str(path), "monitor")
    hub, result = await start_station(path)
    assert not result.problems, result.problems
    reader = hub.data["modbus_meter"]
    await wait_until(lambda: reader.reads >= 2, what="two good polls")
    meter.exception = ExcCodes.DEVICE_BUSY  # the meter answers with exception 6
    await wait_until(lambda: reader.errors["exception_answers"] >= 1, what="a refused poll")
    meter.exception = None
    await wait_until(lambda: reader.reads >= 3, what="a good poll again")

    # One scrape between two polls (1 s apart): the server's count did not move meanwhile.
    while True:
        before = meter.requests
        found = await scrape(http_port, token)
        if meter.requests == before:
            break
    meter_label = (("meter", "meter"),)
    requests = found[("orge_modbus_meter_requests_total", meter_label)]
    reads = found[("orge_modbus_meter_reads_total", meter_label)]
    refused = found[
        ("orge_modbus_meter_read_errors_total", (("kind", "exception_answers"), ("meter", "meter")))
    ]
    assert requests == meter.requests
    assert reads >= 3 and refused >= 1
    # a good poll asks for every block; a refused one stops at the first block's exception
    assert reads * len(reader.blocks) + refused == meter.requests
    assert (
        found[("orge_modbus_meter_read_errors_total", (("kind", "timeouts"), ("meter", "meter")))]
        == 0
    )
