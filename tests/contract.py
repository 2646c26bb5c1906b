"""The behaviour every DurableDict backend must have, as one reusable test class.

A backend's test module binds it by providing a ``make_dict`` fixture (a
:class:`DictFactory`) and subclassing :class:`DictContract`::

    @pytest.fixture
    def make_dict():
        return MemoryFactory()          # a fresh, empty store per test

    class TestMemoryDict(DictContract):
        pass

Every dict the factory makes during one test shares that test's store, so a second
instance stands in for another process.
"""

from __future__ import annotations

import copy
import pickle
from collections import OrderedDict
from collections.abc import Mapping, MutableMapping
from typing import Any

import pytest

from django_durabledict.base import DurableDict
from django_durabledict.encoding import (
    EncoderError,
    EncodingError,
    JSONEncoding,
    NoOpEncoding,
    PickleEncoding,
)
from tests.changeset_contract import ChangesetContract


class DictFactory:
    """Makes dicts on one fresh store; subclass it per backend."""

    #: NoOpEncoding only makes sense for stores that keep Python objects.
    supports_noop = False
    #: Pickle may be refused by a store (or only make sense on some).
    supports_pickle = True

    def __call__(self, **kwargs: Any) -> DurableDict:
        """A new dict on this test's store; kwargs: autosync, encoding, defaults."""
        raise NotImplementedError

    def write_raw(self, key: Any, stored: Any) -> None:
        """Store an already encoded value behind every dict's back, bumping the
        token as a real writer would. Optional: tests that need it skip without."""
        raise NotImplementedError


COMPLEX = {
    "nested": {"a": [1, 2, {"b": None}], "c": "ü✓"},
    "number": 3.5,
    "flag": False,
    "empty": "",
    "none": None,
    "zero": 0,
}


class DictContract(ChangesetContract):
    """Dict semantics, autosync on/off, sync-only-on-change, encodings, errors,
    and changesets (tests/changeset_contract.py)."""

    # -- plain dict behaviour ---------------------------------------------------

    def test_is_a_mutable_mapping(self, make_dict):
        d = make_dict()
        assert isinstance(d, MutableMapping)
        with pytest.raises(TypeError):
            hash(d)

    def test_set_get_contains_len(self, make_dict):
        d = make_dict()
        assert len(d) == 0 and not d
        d["a"] = 1
        assert d["a"] == 1
        assert "a" in d and "b" not in d
        assert len(d) == 1 and d
        assert d.get("a") == 1
        assert d.get("b") is None
        assert d.get("b", 7) == 7
        with pytest.raises(KeyError):
            d["b"]

    def test_overwrite(self, make_dict):
        d = make_dict()
        d["a"] = 1
        d["a"] = 2
        assert d["a"] == 2 and len(d) == 1
        assert make_dict()["a"] == 2

    def test_iteration_and_views(self, make_dict):
        d = make_dict()
        for i, key in enumerate("cab"):
            d[key] = i
        assert sorted(d) == ["a", "b", "c"]
        assert sorted(iter(d)) == ["a", "b", "c"]
        assert sorted(d.keys()) == ["a", "b", "c"]
        assert sorted(d.values()) == [0, 1, 2]
        assert sorted(d.items()) == [("a", 1), ("b", 2), ("c", 0)]
        assert dict(d) == {"a": 1, "b": 2, "c": 0}
        assert [k for k in d] == list(d.keys())

    def test_equality(self, make_dict):
        d = make_dict()
        d.update({"a": 1, "b": [1, 2]})
        assert d == {"a": 1, "b": [1, 2]}
        assert d == OrderedDict([("b", [1, 2]), ("a", 1)])
        assert d != {"a": 1}
        assert d != [("a", 1)]
        assert d == make_dict()

    def test_copy_is_a_plain_independent_dict(self, make_dict):
        d = make_dict()
        d["a"] = 1
        plain = d.copy()
        assert type(plain) is dict and plain == {"a": 1}
        plain["b"] = 2
        assert "b" not in d

    def test_repr_shows_values(self, make_dict):
        d = make_dict()
        d["answer"] = 42
        assert "'answer': 42" in repr(d)

    def test_union_operators(self, make_dict):
        d = make_dict()
        d["a"] = 1
        assert d | {"b": 2} == {"a": 1, "b": 2}
        assert {"b": 2} | d == {"a": 1, "b": 2}
        d |= {"c": 3}
        assert make_dict() == {"a": 1, "c": 3}

    def test_copy_module_and_pickle_raise_type_error(self, make_dict):
        d = make_dict()
        for operation in (copy.copy, copy.deepcopy, pickle.dumps):
            with pytest.raises(TypeError, match="cannot be copied or pickled"):
                operation(d)

    def test_unknown_attribute_is_an_attribute_error(self, make_dict):
        d = make_dict()
        with pytest.raises(AttributeError):
            d.no_such_method  # noqa: B018

    # -- writes persist, never only locally --------------------------------------

    def test_delete(self, make_dict):
        d = make_dict()
        d["a"] = 1
        del d["a"]
        assert "a" not in d
        assert "a" not in make_dict()
        with pytest.raises(KeyError):
            del d["a"]

    def test_delete_missing_raises_key_error(self, make_dict):
        with pytest.raises(KeyError):
            del make_dict()["missing"]

    def test_pop(self, make_dict):
        d = make_dict()
        d["a"] = 1
        assert d.pop("a") == 1
        assert "a" not in d and "a" not in make_dict()
        with pytest.raises(KeyError):
            d.pop("a")

    @pytest.mark.parametrize("default", [None, 0, "", False, [], "x"])
    def test_pop_missing_returns_any_default(self, make_dict, default):
        assert make_dict().pop("missing", default) == default

    def test_pop_stored_none(self, make_dict):
        d = make_dict()
        d["n"] = None
        assert d.pop("n") is None
        assert "n" not in d
        d["n"] = None
        assert d.pop("n", "default") is None

    def test_setdefault(self, make_dict):
        d = make_dict()
        assert d.setdefault("a", 1) == 1
        assert d.setdefault("a", 2) == 1
        assert make_dict()["a"] == 1
        assert d.setdefault("n") is None
        assert "n" in make_dict()

    def test_update_persists(self, make_dict):
        d = make_dict()
        d.update({"a": 1}, b=2)
        d.update([("c", 3)])
        assert make_dict() == {"a": 1, "b": 2, "c": 3}

    def test_clear_persists(self, make_dict):
        d = make_dict()
        d.update(a=1, b=2)
        d.clear()
        assert len(d) == 0
        assert make_dict() == {}

    def test_popitem_persists(self, make_dict):
        d = make_dict()
        d["a"] = 1
        assert d.popitem() == ("a", 1)
        assert make_dict() == {}
        with pytest.raises(KeyError):
            d.popitem()

    def test_complex_values_round_trip(self, make_dict):
        d = make_dict()
        d.update(COMPLEX)
        assert d == COMPLEX
        assert make_dict() == COMPLEX

    def test_unencodable_value_writes_nothing(self, make_dict):
        d = make_dict(encoding=JSONEncoding)
        d["a"] = 1
        with pytest.raises(EncodingError):
            d["bad"] = object()
        with pytest.raises(EncodingError):
            d["a"] = {1, 2}
        assert d == {"a": 1}
        assert make_dict(encoding=JSONEncoding) == {"a": 1}
        with pytest.raises(EncoderError):  # a ValueError, and named as such
            d.setdefault("bad", object())
        assert "bad" not in make_dict(encoding=JSONEncoding)

    def test_encodings_round_trip(self, make_dict):
        encodings = [JSONEncoding, JSONEncoding()]
        if make_dict.supports_pickle:
            encodings += [PickleEncoding, PickleEncoding()]
        if make_dict.supports_noop:
            encodings.append(NoOpEncoding)
        for encoding in encodings:
            d = make_dict(encoding=encoding)
            d.update(COMPLEX)
            assert make_dict(encoding=encoding) == COMPLEX, encoding
            d.clear()  # the next encoding starts on an empty store

    # -- syncing ----------------------------------------------------------------

    def test_constructor_loads_existing_values(self, make_dict):
        make_dict()["a"] = 1
        assert make_dict(autosync=False)["a"] == 1

    def test_autosync_sees_other_writers_on_next_read(self, make_dict):
        reader, writer = make_dict(autosync=True), make_dict()
        writer["a"] = 1
        assert reader["a"] == 1
        writer["a"] = 2
        assert reader.get("a") == 2
        del writer["a"]
        assert "a" not in reader

    def test_without_autosync_reads_keep_the_snapshot_until_sync(self, make_dict):
        reader, writer = make_dict(autosync=False), make_dict()
        writer["a"] = 1
        assert "a" not in reader and len(reader) == 0
        reader.sync()
        assert reader["a"] == 1

    def test_own_writes_are_seen_at_once_without_autosync(self, make_dict):
        d = make_dict(autosync=False)
        d["a"] = 1
        assert d["a"] == 1
        d.pop("a")
        assert "a" not in d

    def test_autosync_can_be_toggled(self, make_dict):
        reader, writer = make_dict(autosync=False), make_dict()
        writer["a"] = 1
        assert "a" not in reader
        reader.autosync = True
        assert reader["a"] == 1

    def test_sync_reloads_only_on_change(self, make_dict):
        reader, writer = make_dict(autosync=False), make_dict()
        loads = []
        original = reader._load_and_publish  # a reload: whole or incremental
        reader._load_and_publish = lambda token: loads.append(token) or original(token)
        reader.sync()
        reader.sync()
        assert loads == []
        writer["a"] = 1
        reader.sync()
        reader.sync()
        assert len(loads) == 1 and reader["a"] == 1

    def test_autosync_read_reloads_only_on_change(self, make_dict):
        reader, writer = make_dict(autosync=True), make_dict()
        loads = []
        original = reader._load_and_publish  # a reload: whole or incremental
        reader._load_and_publish = lambda token: loads.append(token) or original(token)
        for _ in range(5):
            reader.get("a")
        assert loads == []
        writer["a"] = 1
        for _ in range(5):
            assert reader["a"] == 1
        assert len(loads) == 1

    def test_writes_persist_whatever_autosync_says(self, make_dict):
        make_dict(autosync=False)["a"] = 1
        assert make_dict()["a"] == 1

    # -- defaults ---------------------------------------------------------------

    def test_defaults_are_read_but_never_stored(self, make_dict):
        d = make_dict(defaults={"limit": 10, "flag": False})
        assert d["limit"] == 10 and d.get("flag") is False and "limit" in d
        assert make_dict() == {}
        d["limit"] = 20
        assert d["limit"] == 20 and make_dict() == {"limit": 20}
        del d["limit"]
        assert d["limit"] == 10
        with pytest.raises(KeyError):
            d.pop("flag")

    # -- bad stored data ----------------------------------------------------------

    def test_undecodable_value_is_reported_and_the_rest_loads(self, make_dict, caplog):
        d = make_dict(encoding=JSONEncoding)
        d["good"] = 1
        try:
            make_dict.write_raw("bad", "{not json")
        except NotImplementedError:
            pytest.skip("this backend's factory cannot plant raw values")
        d.sync()
        assert d == {"good": 1}
        assert "'bad'" in caplog.text and str(d.name) in caplog.text

    def test_old_encoding_is_used_as_fallback(self, make_dict):
        try:
            make_dict.write_raw("old", PickleEncoding.encode({"x": 1}))
        except NotImplementedError:
            pytest.skip("this backend's factory cannot plant raw values")
        if not make_dict.supports_pickle:
            pytest.skip("this backend does not store pickles")
        d = make_dict(encoding=JSONEncoding, old_encoding=PickleEncoding)
        assert d["old"] == {"x": 1}


def assert_same(d: Mapping, expected: Mapping) -> None:
    """Compare a dict with the expected contents, with a readable diff."""
    assert dict(d.items()) == dict(expected)
