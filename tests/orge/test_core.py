"""The hub: bus, state machine, services, contexts, lifecycle."""

from __future__ import annotations

import asyncio
import threading

import pytest
import voluptuous as vol

from orge.core import (
    EVENT_ORGE_CLOSE,
    EVENT_ORGE_FINAL_WRITE,
    EVENT_ORGE_START,
    EVENT_ORGE_STARTED,
    EVENT_ORGE_STOP,
    EVENT_STATE_CHANGED,
    MATCH_ALL,
    Context,
    CoreState,
    Event,
    Orge,
    OwnedTasks,
    ServiceCall,
    SupportsResponse,
    callback,
)
from orge.exceptions import ServiceNotFound, ServiceValidationError


async def test_callback_listener_runs_inline(orge: Orge) -> None:
    seen: list[Event] = []
    orge.bus.async_listen("ping", callback(lambda e: seen.append(e)))
    event = orge.bus.async_fire("ping", {"n": 1})
    assert seen == [event]
    assert event.data == {"n": 1}
    assert event.as_dict()["event_type"] == "ping"
    assert event.as_dict()["time_fired"].endswith("+00:00")


async def test_coroutine_and_plain_listeners_do_not_block_the_loop(orge: Orge) -> None:
    threads: list[str] = []
    got: list[str] = []

    async def coro_listener(event: Event) -> None:
        await asyncio.sleep(0)
        got.append("coro")

    def plain_listener(event: Event) -> None:
        threads.append(threading.current_thread().name)
        got.append("plain")

    orge.bus.async_listen("x", coro_listener)
    orge.bus.async_listen("x", plain_listener)
    orge.bus.async_fire("x")
    assert "coro" not in got  # not run inline; the plain one runs in a worker thread
    await orge.async_block_till_done()
    assert sorted(got) == ["coro", "plain"]
    assert threads[0].startswith("orge-exec")


async def test_listen_once_remove_match_all_and_filter(orge: Orge) -> None:
    once: list[str] = []
    every: list[str] = []
    filtered: list[int] = []
    orge.bus.async_listen_once("a", callback(lambda e: once.append(e.event_type)))
    remove = orge.bus.async_listen(MATCH_ALL, callback(lambda e: every.append(e.event_type)))
    orge.bus.async_listen(
        "n", callback(lambda e: filtered.append(e.data["v"])), lambda data: data["v"] > 1
    )
    for event_type in ("a", "a", "b"):
        orge.bus.async_fire(event_type)
    for value in (1, 2, 3):
        orge.bus.async_fire("n", {"v": value})
    await orge.async_block_till_done()
    assert once == ["a"]
    assert every == ["a", "a", "b", "n", "n", "n"]
    assert filtered == [2, 3]
    remove()
    remove()  # removing twice is harmless
    orge.bus.async_fire("c")
    assert every[-1] == "n"
    assert "a" not in orge.bus.async_listeners()


async def test_a_failing_listener_does_not_stop_the_others(
    orge: Orge, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[str] = []

    @callback
    def broken(event: Event) -> None:
        raise RuntimeError("boom")

    orge.bus.async_listen("x", broken)
    orge.bus.async_listen("x", callback(lambda e: seen.append("ok")))
    orge.bus.async_fire("x")
    assert seen == ["ok"]
    assert "boom" in caplog.text


async def test_state_writes_fire_only_on_change(orge: Orge) -> None:
    changes: list[Event] = []
    orge.bus.async_listen(EVENT_STATE_CHANGED, callback(lambda e: changes.append(e)))
    first = orge.states.async_set("sensor.power", "10", {"unit_of_measurement": "W"})
    again = orge.states.async_set("sensor.power", "10", {"unit_of_measurement": "W"})
    assert again is first
    assert len(changes) == 1
    assert changes[0].data["old_state"] is None
    attr_only = orge.states.async_set("sensor.power", "10", {"unit_of_measurement": "kW"})
    assert attr_only.last_changed == first.last_changed
    assert attr_only.last_updated_timestamp >= first.last_updated_timestamp
    changed = orge.states.async_set("sensor.power", 11, {"unit_of_measurement": "kW"})
    assert changed.state == "11"
    assert changed.last_changed_timestamp > first.last_changed_timestamp
    assert [e.data["new_state"].state for e in changes] == ["10", "10", "11"]
    assert changes[-1].data["old_state"] is attr_only
    assert orge.states.get("sensor.power") is changed
    assert [s.entity_id for s in orge.states.async_all("sensor")] == ["sensor.power"]
    as_dict = changed.as_dict()
    assert set(as_dict) == {
        "entity_id",
        "state",
        "attributes",
        "last_changed",
        "last_updated",
        "context",
    }
    with pytest.raises(TypeError):
        changed.attributes["x"] = 1  # type: ignore[index]


async def test_state_remove_and_invalid_ids(orge: Orge) -> None:
    orge.states.async_set("Switch.Relay", "on")  # ids are lower-cased
    assert orge.states.get("switch.relay") is not None
    assert orge.states.async_remove("switch.relay")
    assert not orge.states.async_remove("switch.relay")
    with pytest.raises(ValueError, match="Invalid entity id"):
        orge.states.async_set("no_dot", "1")
    with pytest.raises(ValueError, match="longer than"):
        orge.states.async_set("sensor.long", "x" * 300)


async def test_service_call_blocking_with_schema_and_response(orge: Orge) -> None:
    calls: list[ServiceCall] = []

    @callback
    def handler(call: ServiceCall) -> dict[str, int]:
        calls.append(call)
        return {"doubled": call.data["current"] * 2}

    orge.services.async_register(
        "esp",
        "set",
        handler,
        vol.Schema({vol.Required("current"): vol.All(int, vol.Range(6, 32))}),
        supports_response=SupportsResponse.OPTIONAL,
    )
    assert await orge.services.async_call("esp", "set", {"current": 10}, blocking=True) is None
    response = await orge.services.async_call(
        "esp", "set", {"current": 16}, blocking=True, return_response=True
    )
    assert response == {"doubled": 32}
    assert [c.data["current"] for c in calls] == [10, 16]
    with pytest.raises(ServiceValidationError, match="current"):
        await orge.services.async_call("esp", "set", {"current": 99}, blocking=True)
    with pytest.raises(ServiceNotFound, match="Service nope.nothing not found"):
        await orge.services.async_call("nope", "nothing", blocking=True)
    with pytest.raises(ServiceValidationError, match="non-blocking"):
        await orge.services.async_call("esp", "set", {"current": 8}, return_response=True)


async def test_coroutine_service_non_blocking_and_context_links_state(orge: Orge) -> None:
    async def handler(call: ServiceCall) -> None:
        await asyncio.sleep(0.01)
        orge.states.async_set("switch.relay", "on", context=call.context)

    orge.services.async_register("relay", "close", handler)
    context = Context(user_id="operator")
    await orge.services.async_call("relay", "close", {}, blocking=False, context=context)
    assert orge.states.get("switch.relay") is None
    await orge.async_block_till_done()
    state = orge.states.get("switch.relay")
    assert state is not None and state.context is context
    assert state.as_dict()["context"] == {
        "id": context.id,
        "parent_id": None,
        "user_id": "operator",
    }


async def test_lifecycle_events_in_order() -> None:
    orge = Orge()
    order: list[str] = []
    for event_type in (
        EVENT_ORGE_START,
        EVENT_ORGE_STARTED,
        EVENT_ORGE_STOP,
        EVENT_ORGE_FINAL_WRITE,
        EVENT_ORGE_CLOSE,
    ):
        orge.bus.async_listen(event_type, callback(lambda e: order.append(e.event_type)))
    await orge.async_start()
    assert orge.state is CoreState.RUNNING
    await orge.async_stop()
    assert orge.state is CoreState.STOPPED
    assert order == ["orge_start", "orge_started", "orge_stop", "orge_final_write", "orge_close"]


async def test_stop_cancels_background_tasks_quickly() -> None:
    orge = Orge()
    cancelled = asyncio.Event()

    async def forever() -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    orge.async_create_background_task(forever(), "forever")
    await orge.async_start()
    loop = asyncio.get_running_loop()
    start = loop.time()
    await orge.async_stop()
    assert cancelled.is_set()
    assert loop.time() - start < 1.0


async def test_owned_task_cancelled_before_it_ran_leaves_no_unawaited_coroutine() -> None:
    """A task cancelled before its first step (a session ended at once, a stop) never
    awaits its coroutine; the owner closes it, so Python warns of no coroutine "never
    awaited" (as asyncio does for a task's own coroutine)."""
    orge = Orge()
    owner = OwnedTasks(orge)
    ran = []

    async def meter_loop() -> None:
        ran.append(True)

    coroutine = meter_loop()
    task = owner.async_create_background_task(coroutine, "meter")
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert task.cancelled() and ran == []
    assert coroutine.cr_frame is None  # closed: nothing left to warn about at collection
    # one that ran is left as it was
    again = owner.async_create_background_task(meter_loop(), "meter")
    await again
    assert ran == [True]


async def test_owned_tasks_end_with_their_owner_and_at_stop(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An owner cancels only its own tasks; the hub cancels every owner's at stop and logs
    a task's error under its name (as Home Assistant's background tasks)."""
    orge = Orge()
    first, second = OwnedTasks(orge), OwnedTasks(orge)
    release = asyncio.Event()

    async def wait_forever() -> None:
        await asyncio.sleep(3600)

    async def done_soon() -> str:
        await release.wait()
        return "done"

    async def fails() -> None:
        raise RuntimeError("controller gone")

    a = first.async_create_background_task(wait_forever(), "first a")
    b = first.async_create_background_task(done_soon(), "first b")
    c = second.async_create_background_task(wait_forever(), "second c")
    second.async_create_background_task(fails(), "second fails")
    assert a.get_name() == "first a"
    release.set()
    assert await b == "done"
    await asyncio.sleep(0)
    assert len(first) == 1  # the finished task is no longer the owner's
    assert "Background task second fails failed" in caplog.text

    assert first.async_cancel_all() == [a]
    await asyncio.gather(a, return_exceptions=True)
    assert a.cancelled() and not c.done()
    assert len(first) == 0

    await orge.async_start()
    await orge.async_stop()
    assert c.cancelled()
    assert len(second) == 0


async def test_thread_safe_fire_and_set(orge: Orge) -> None:
    seen: list[Event] = []
    orge.bus.async_listen("from_thread", callback(lambda e: seen.append(e)))

    def worker() -> None:
        orge.bus.fire("from_thread", {"x": 1})
        orge.states.set("sensor.from_thread", "7", {"unit_of_measurement": "V"})

    await orge.async_add_executor_job(worker)
    await asyncio.sleep(0.01)
    assert [e.data for e in seen] == [{"x": 1}]
    assert orge.states.get("sensor.from_thread").state == "7"


async def test_pending_executor_jobs_is_a_read_only_snapshot(orge: Orge) -> None:
    """The hub's executor jobs not done yet (what the test clock waits for): a job in the
    executor is in it until it has finished; tasks are not; changing the tuple is not
    possible and the hub keeps tracking the job."""
    release = threading.Event()
    job = orge.async_add_executor_job(release.wait, 5)
    task = orge.async_create_task(asyncio.sleep(0))
    pending = orge.pending_executor_jobs
    assert pending == (job,)
    assert task not in pending
    with pytest.raises(AttributeError):
        pending.remove(job)  # type: ignore[attr-defined]
    release.set()
    assert await job is True
    await orge.async_block_till_done()
    assert orge.pending_executor_jobs == ()
