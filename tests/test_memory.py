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
