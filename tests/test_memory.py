"""MemoryDict: the contract, plus identity preservation with NoOpEncoding."""

import pytest

from django_durabledict import MemoryDict
from django_durabledict.backends.memory import MemoryStore
from tests.contract import DictContract, DictFactory


class MemoryFactory(DictFactory):
    supports_noop = True

    def __init__(self):
        self.store = MemoryStore()

    def __call__(self, **kwargs):
        return MemoryDict(store=self.store, **kwargs)

    def write_raw(self, key, stored):
        with self.store.lock:
            self.store.values[key] = stored
            self.store.changed()


@pytest.fixture
def make_dict():
    return MemoryFactory()


class TestMemoryDict(DictContract):
    pass


def test_noop_is_the_default_and_preserves_identity():
    d = MemoryDict()
    value = object()
    d["k"] = value
    assert d["k"] is value
    d.sync()
    assert d["k"] is value


def test_instances_without_a_shared_store_are_independent():
    a, b = MemoryDict(), MemoryDict()
    a["k"] = 1
    assert "k" not in b


def test_positional_arguments_as_in_the_original():
    d = MemoryDict(False)
    assert d.autosync is False


class RecordingStore(MemoryStore):
    """A store that records every version it reaches, with its values, under
    its own lock: the history test's oracle."""

    def __init__(self):
        super().__init__()
        self.versions = [(0, {})]

    def changed(self):
        super().changed()
        self.versions.append((self.version, dict(self.values)))


def test_a_write_after_another_instance_wrote_shows_a_state_the_store_held():
    """Issue 15's reproduction: another instance writes ``theirs``; this one
    (autosync off) writes ``mine`` and must show {theirs, mine}, not {mine}."""
    store = MemoryStore()
    mine, other = MemoryDict(False, store=store), MemoryDict(store=store)
    other["theirs"] = "1"
    mine["mine"] = "2"
    assert mine.copy() == {"theirs": "1", "mine": "2"}
    assert mine.last_synced == store.version  # the reload adopted the store's
    mine["again"] = "3"  # nobody wrote in between: patched, token adopted
    assert mine.last_synced == store.version and mine.copy() == dict(store.values)
    for operation in (
        lambda: mine.pop("theirs"),
        lambda: mine.setdefault("theirs", "4"),
        lambda: mine.update({"mine": "5"}),
        lambda: mine._apply({"x": "6"}, ["again"]),
        lambda: mine.clear(),
    ):
        other["other"] = "7"
        operation()
        assert mine.copy() == dict(store.values)
        assert mine.last_synced == store.version


def test_threads_never_show_a_phantom_stale_or_regressing_snapshot():
    """Writer and reader threads on one store (MemoryDict is process-local):
    every snapshot shown must be a version the store held, no older than what
    was acknowledged before, and no older than the thread's previous one."""
    import random
    import threading

    from tests.history import History, Observation

    store = RecordingStore()
    observations = {}

    def work(name, writer, seed):
        rng, d, seen = random.Random(seed), MemoryDict(False, store=store), []
        for _ in range(2500):
            floor = store.version
            if writer:
                key, roll = rng.choice("abcdef"), rng.random()
                if roll < 0.5:
                    d[key] = rng.randrange(10)
                elif roll < 0.8:
                    floor = floor if d.pop(key, None) is not None else 0
                elif roll < 0.9:
                    d._apply({key: 1}, [rng.choice("abcdef")])
                else:
                    d.setdefault(key, 0)
                    floor = 0  # may change nothing: not a sync
            else:
                d.sync()
            seen.append(Observation(name, floor, d.last_synced, dict(d._stored)))
        observations[name] = seen

    threads = [
        threading.Thread(target=work, args=(f"t{i}", i < 3, i)) for i in range(5)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    history = History()
    for version, values in store.versions[1:]:
        history.add(version, values)
    history.tokens[0] = 0
    counts = history.check(o for seen in observations.values() for o in seen)
    assert counts["ok"] == 5 * 2500, history.problems[:5]
