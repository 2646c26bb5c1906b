"""DurableDict itself: a four-method subclass as the original documented them,
token handling, thread safety and behaviour while the store is unreachable."""

import logging
import threading

import pytest

from django_durabledict import DurableDict
from django_durabledict.encoding import JSONEncoding
from tests.contract import DictContract, DictFactory


class FourMethodStore:
    """The state a user's own backend keeps; a counter that can be reset."""

    def __init__(self):
        self.values = {}
        self.counter = 0
        self.down = False
        self.load_gate = None  # an Event durables() waits on, when set
        self.loads = 0


class FourMethodDict(DurableDict):
    """Written as for the original durabledict: the four methods, nothing else.
    depersist() of a missing key silently succeeds, as the original RedisDict's did."""

    def __init__(self, store, *args, **kwargs):
        self.store = store
        super().__init__(*args, **kwargs)

    def persist(self, key, value):
        self._check()
        self.store.values[key] = self._encode(value)
        self.store.counter += 1

    def depersist(self, key):
        self._check()
        self.store.values.pop(key, None)
        self.store.counter += 1

    def durables(self):
        self._check()
        self.store.loads += 1
        values = dict(self.store.values)
        if self.store.load_gate is not None:
            self.store.load_gate.wait(5)
        return self._decode_items(values.items())

    def last_updated(self):
        self._check()
        return self.store.counter

    def _check(self):
        if self.store.down:
            raise ConnectionError("store is down")


class FourMethodFactory(DictFactory):
    supports_noop = True

    def __init__(self):
        self.store = FourMethodStore()

    def __call__(self, **kwargs):
        kwargs.setdefault("encoding", JSONEncoding)
        return FourMethodDict(self.store, **kwargs)

    def write_raw(self, key, stored):
        self.store.values[key] = stored
        self.store.counter += 1


@pytest.fixture
def make_dict():
    return FourMethodFactory()


class TestFourMethodSubclass(DictContract):
    pass


def test_contract_methods_name_the_class():
    class Incomplete(DurableDict):
        pass

    with pytest.raises(NotImplementedError, match=r"Incomplete must implement"):
        Incomplete()


def test_public_attributes(make_dict):
    d = make_dict(autosync=False, old_encoding=JSONEncoding)
    assert d.autosync is False
    assert d.encoding is JSONEncoding and d.old_encoding is JSONEncoding
    assert d.last_synced == 0


def test_token_going_backwards_reloads(make_dict):
    """The original compared with `>`: a reset counter hid every change (B8)."""
    writer, reader = make_dict(), make_dict(autosync=False)
    writer["a"] = 1
    writer["a"] = 2
    reader.sync()
    make_dict.store.counter = 0  # the store lost its counter and restarted
    make_dict.store.values["a"] = '"changed"'
    reader.sync()
    assert reader["a"] == "changed"


def test_a_token_of_none_always_reloads(make_dict):
    d = make_dict(autosync=False)
    d.last_updated = lambda: None
    before = make_dict.store.loads
    d.sync()
    d.sync()
    assert make_dict.store.loads == before + 2


def test_popitem_is_last_in_first_out(make_dict):
    d = make_dict()
    d.update(a=1, b=2, c=3)
    assert d.popitem() == ("c", 3)
    assert d.popitem() == ("b", 2)


def test_unreachable_store_serves_the_snapshot(make_dict, caplog, monkeypatch):
    d = make_dict(autosync=True)
    d["a"] = 1
    make_dict.store.down = True
    caplog.set_level(logging.WARNING, "django_durabledict")
    for _ in range(3):
        assert d["a"] == 1
        d.sync()
    assert d.stale_since is not None
    assert caplog.text.count("cannot be reached") == 1
    with pytest.raises(ConnectionError):
        d["b"] = 2
    assert "b" not in d

    make_dict.store.down = False
    monkeypatch.setattr(d, "_retry_at", 0.0)
    assert d["a"] == 1
    assert d.stale_since is None
    assert caplog.text.count("can be reached again") == 1


def test_unreachable_store_is_retried_on_a_schedule(make_dict):
    d = make_dict(autosync=True)
    make_dict.store.down = True
    d.sync()
    calls = []
    d.last_updated = lambda: calls.append(1)
    for _ in range(10):
        d.get("a")
    assert calls == []  # within retry_interval nothing touches the store


def test_unreachable_at_start_serves_defaults(make_dict):
    make_dict.store.down = True
    d = make_dict(defaults={"flag": False})
    assert d["flag"] is False and d.stale_since is not None


def test_readers_never_see_a_half_built_snapshot(make_dict):
    """Every key is rewritten to the same generation at once; a reader must never
    see two generations in one snapshot."""
    writer, reader = make_dict(), make_dict(autosync=True)
    keys = [f"k{i}" for i in range(50)]
    writer.update(dict.fromkeys(keys, 0))
    mixed, stop = [], threading.Event()

    def read():
        while not stop.is_set():
            values = set(reader.values())
            if len(values) > 1:
                mixed.append(values)

    threads = [threading.Thread(target=read) for _ in range(4)]
    for thread in threads:
        thread.start()
    for generation in range(1, 100):
        make_dict.store.values = dict.fromkeys(keys, str(generation))
        make_dict.store.counter += 1
    stop.set()
    for thread in threads:
        thread.join()
    assert mixed == []
    reader.sync()
    assert set(reader.values()) == {99}


def test_one_reload_at_a_time_others_keep_reading(make_dict):
    """Single flight: threads that notice a change while a reload runs read the
    current snapshot instead of reloading too."""
    writer, reader = make_dict(), make_dict(autosync=True)
    writer["a"] = 1
    reader.sync()
    make_dict.store.load_gate = gate = threading.Event()
    loads_before = make_dict.store.loads
    writer.persist("a", 2)  # behind the reader's back
    slow = threading.Thread(target=reader.get, args=("a",))
    slow.start()
    while make_dict.store.loads == loads_before:
        pass  # the slow thread is inside durables(), holding the lock
    assert [reader["a"] for _ in range(20)] == [1] * 20
    gate.set()
    slow.join()
    assert make_dict.store.loads == loads_before + 1
    assert reader["a"] == 2


def test_explicit_sync_waits_for_a_running_reload(make_dict):
    """sync() after a write must see it, even when an older reload is running."""
    writer, reader = make_dict(), make_dict(autosync=False)
    make_dict.store.load_gate = gate = threading.Event()
    writer.persist("a", 1)
    slow = threading.Thread(target=reader.sync)
    slow.start()
    while make_dict.store.loads == 0:
        pass
    writer.persist("a", 2)  # lands after the slow reload has read the store
    waiter = threading.Thread(target=reader.sync)
    waiter.start()
    gate.set()
    slow.join()
    waiter.join()
    assert reader["a"] == 2
