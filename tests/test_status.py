"""DurableDict.status(), its counters, and the dict_* signals.

Counters are checked by counting events; the outage tests kill and restart a
private redis-server, so the signals fire on a real store's failure.
"""

from __future__ import annotations

import dataclasses
import logging

import pytest

from django_durabledict import base
from django_durabledict.backends.memory import MemoryDict, MemoryStore
from django_durabledict.encoding import JSONEncoding
from django_durabledict.signals import dict_recovered, dict_reloaded, dict_unavailable
from django_durabledict.status import DictStatus


class Received:
    """Every send of one signal, as ``(sender, kwargs)``."""

    def __init__(self, signal) -> None:
        self.signal, self.calls = signal, []
        signal.connect(self.receive)

    def receive(self, sender, **kwargs) -> None:
        kwargs.pop("signal")
        self.calls.append((sender, kwargs))

    def close(self) -> None:
        self.signal.disconnect(self.receive)


@pytest.fixture
def received():
    made = []

    def watch(signal):
        made.append(Received(signal))
        return made[-1]

    yield watch
    for each in made:
        each.close()


def json_dict(store=None, **kwargs) -> MemoryDict:
    return MemoryDict(store=store or MemoryStore(), encoding=JSONEncoding, **kwargs)


def store_raw(store: MemoryStore, key, stored) -> None:
    with store.lock:
        store.values[key] = stored
        store.changed()


# -- The status object -----------------------------------------------------------


def test_a_new_dict_counts_its_first_load():
    status = json_dict(name="flags").status()
    assert isinstance(status, DictStatus)
    assert status.name == "flags"
    assert status.backend == "django_durabledict.backends.memory.MemoryDict"
    assert (status.full_reloads, status.incremental_reloads) == (1, 0)
    assert status.health == "ok" and status.healthy
    assert status.stale_since is None and status.last_error is None
    assert status.push is None
    assert status.loaded_at is not None and status.snapshot_age >= 0


def test_reloads_are_counted_only_when_the_store_changed():
    store = MemoryStore()
    durable, other = json_dict(store, autosync=False), json_dict(store)
    for _ in range(5):
        durable.sync()
    assert durable.status().full_reloads == 1
    other["a"] = 1
    durable.sync()
    durable.sync()
    status = durable.status()
    assert status.full_reloads == 2
    assert (status.token, status.keys) == (store.version, 1)


def test_own_writes_are_not_reloads():
    durable = json_dict(autosync=False)
    durable["a"] = 1
    durable.update(b=2, c=3)
    del durable["a"]
    assert durable.status().full_reloads == 1


def test_reads_change_no_counter_and_no_time():
    durable = json_dict(autosync=False)
    durable["a"] = 1
    before = durable.status()
    for _ in range(1000):
        durable["a"], durable.get("a"), "a" in durable
    after = durable.status()
    fields = ("full_reloads", "loaded_at", "synced_at", "last_failure_at")
    assert [getattr(after, f) for f in fields] == [getattr(before, f) for f in fields]
    # The hot path is still the snapshot's own C methods.
    assert type(durable).__getitem__ == durable._data.__getitem__


def test_sync_moves_the_sync_time_but_not_the_load_time():
    durable = json_dict(autosync=False)
    first = durable.status()
    durable.sync()
    second = durable.status()
    assert second.loaded_at == first.loaded_at
    assert second.synced_at >= first.synced_at
    assert second.synced_at >= second.loaded_at


def test_the_status_is_immutable_and_json_ready():
    store = MemoryStore()
    store_raw(store, "bad", "{not json")
    status = json_dict(store).status()
    with pytest.raises(dataclasses.FrozenInstanceError):
        status.full_reloads = 5
    with pytest.raises(TypeError):
        status.decode_errors["x"] = "y"
    data = status.as_dict()
    assert data["decode_errors"].keys() == {"bad"}
    assert data["healthy"] is True and data["snapshot_age"] >= 0
    assert "{not json" not in repr(data)  # no stored value in the status


def test_decode_errors_follow_the_store():
    store = MemoryStore()
    store_raw(store, "good", "1")
    store_raw(store, "bad", "{not json")
    durable = json_dict(store, autosync=False)
    assert dict(durable.status().decode_errors).keys() == {"bad"}
    assert "bad" not in durable and durable["good"] == 1
    store_raw(store, "bad", '"fixed"')
    durable.sync()
    assert dict(durable.status().decode_errors) == {}
    assert durable["bad"] == "fixed"


def test_a_bulk_write_updates_only_its_own_keys_errors():
    store = MemoryStore()
    store_raw(store, "bad", "{not json")
    store_raw(store, "worse", "[")
    durable = json_dict(store, autosync=False)
    assert set(durable.status().decode_errors) == {"bad", "worse"}
    durable._apply_encoded({"bad": "2"}, [])
    assert set(durable.status().decode_errors) == {"worse"}


def test_a_backend_reports_push_through_its_hook():
    class Pushed(MemoryDict):
        def _push_status(self):
            return {"live": True, "channel": "x"}

    assert Pushed().status().push == {"live": True, "channel": "x"}


def test_incremental_reloads_is_a_counter_backends_bump():
    durable = json_dict()
    durable.incremental_reloads += 1
    assert durable.status().incremental_reloads == 1


# -- Signals ------------------------------------------------------------------------


def test_dict_reloaded_is_sent_once_per_reload(received):
    reloads = received(dict_reloaded)
    store = MemoryStore()
    durable = json_dict(store, autosync=False, name="flags")
    other = json_dict(store)
    durable.sync()
    other["a"] = 1
    durable.sync()
    durable.sync()
    mine = [(s, k) for s, k in reloads.calls if k["durable"] is durable]
    assert len(mine) == 2
    sender, kwargs = mine[-1]
    assert sender is MemoryDict  # the class users name, not the per-instance one
    assert kwargs["name"] == "flags"
    assert kwargs["token"] == store.version
    assert kwargs["full"] is True


def test_a_failing_receiver_is_logged_and_the_reload_stands(caplog):
    def broken(sender, **kwargs):
        raise RuntimeError("receiver broken on purpose")

    dict_reloaded.connect(broken)
    try:
        with caplog.at_level(logging.ERROR, "django_durabledict"):
            durable = json_dict(name="flags")
    finally:
        dict_reloaded.disconnect(broken)
    assert durable.status().full_reloads == 1
    assert "receiver broken on purpose" in caplog.text


def test_plain_listeners_need_no_django():
    events = []

    def listener(durable, event, details):
        events.append((durable.name, event, sorted(details)))

    base.listeners.append(listener)
    try:
        json_dict(name="plain")
    finally:
        base.listeners.remove(listener)
    assert events == [("plain", "reloaded", ["full", "token"])]


def test_the_app_relays_to_the_signals_once():
    from django_durabledict import signals

    signals.connect()
    signals.connect()
    assert base.listeners.count(signals.relay) == 1


# -- A real store going away and coming back ----------------------------------------


@pytest.mark.slow
@pytest.mark.services("redis-server")
def test_a_killed_redis_shows_unavailable_then_recovered(received):
    from tests import servers
    from tests.redis_helpers import make_dict, new_keyspace, private_client

    down, up = received(dict_unavailable), received(dict_recovered)
    reloads = received(dict_reloaded)
    with servers.start_redis() as server:
        client = private_client(server)
        durable = make_dict(client, new_keyspace(), autosync=False, name="rollout")
        durable["a"] = 1
        server.kill()
        for _ in range(3):
            durable.sync()
        status = durable.status()
        assert status.health == "unavailable" and not status.healthy
        assert status.stale_since is not None
        assert status.last_error.startswith("ConnectionError")
        assert durable["a"] == 1  # reads serve the snapshot
        assert len([c for c in down.calls if c[1]["durable"] is durable]) == 1
        _sender, kwargs = down.calls[-1]
        assert kwargs["name"] == "rollout" and kwargs["since"] == status.stale_since
        assert kwargs["error"].__class__.__name__ == "ConnectionError"
        assert up.calls == []

        server.start()  # empty: the counter is gone, so the dict reloads
        reloads_before = durable.status().full_reloads
        durable.sync()
        durable.sync()
        status = durable.status()
        assert status.health == "ok" and status.stale_since is None
        assert status.last_error.startswith("ConnectionError")  # kept for later
        assert status.full_reloads == reloads_before + 1
        assert status.keys == 0
        mine = [k for _, k in up.calls if k["durable"] is durable]
        assert len(mine) == 1 and mine[0]["downtime"] >= 0
        assert [k["full"] for _, k in reloads.calls if k["durable"] is durable][-1]
        client.close()
