"""The changeset behaviour every backend must have; DictContract includes it, so
each backend's test module runs these against its real store."""

from __future__ import annotations

from collections.abc import MutableMapping

import pytest

from django_durabledict.changeset import ChangesetConflict
from django_durabledict.encoding import EncodingError, JSONEncoding


class ChangesetContract:
    """``d.changeset()``: all or nothing, one change, optional compare-and-set."""

    def test_changeset_applies_every_edit_together(self, make_dict):
        d, other = make_dict(autosync=False), make_dict(autosync=False)
        d.update(a=1, b=2, c=3)
        other.sync()
        with d.changeset() as change:
            assert isinstance(change, MutableMapping)
            change["a"] = 10
            del change["b"]
            change["new"] = [1, {"x": None}]
            assert change.get("missing") is None and change["a"] == 10
            assert "b" not in change and sorted(change) == ["a", "c", "new"]
            other.sync()
            assert other == {"a": 1, "b": 2, "c": 3}  # nothing written yet
            assert d == {"a": 1, "b": 2, "c": 3}
        expected = {"a": 10, "c": 3, "new": [1, {"x": None}]}
        assert d == expected  # its own change, shown at once
        other.sync()
        assert other == expected and make_dict() == expected

    def test_changeset_has_the_mutable_mapping_methods(self, make_dict):
        d = make_dict()
        d.update(a=1, b=2)
        with d.changeset() as change:
            assert change.pop("a") == 1 and change.pop("zz", "dflt") == "dflt"
            assert change.setdefault("b", 9) == 2 and change.setdefault("s", 5) == 5
            change.update({"u": 1}, v=2)
            assert len(change) == 4 and dict(change.items()) == {
                "b": 2,
                "s": 5,
                "u": 1,
                "v": 2,
            }
            assert change.updates == {"s": 5, "u": 1, "v": 2}
            assert change.removed == ["a"]
        assert make_dict() == {"b": 2, "s": 5, "u": 1, "v": 2}
        with d.changeset() as change:
            change.clear()
        assert make_dict() == {} and d == {}

    def test_an_exception_in_the_block_applies_nothing(self, make_dict):
        d = make_dict()
        d["a"] = 1
        d.sync()
        before = d.last_updated()
        with pytest.raises(ZeroDivisionError), d.changeset() as change:
            change["a"] = 2
            change["b"] = 3
            1 / 0  # noqa: B018
        assert make_dict() == {"a": 1} and d == {"a": 1}
        assert d.last_updated() == before
        with pytest.raises(RuntimeError, match="discarded"):
            change["c"] = 1

    def test_an_unencodable_value_raises_at_once_naming_dict_and_key(self, make_dict):
        d = make_dict(encoding=JSONEncoding)
        d["a"] = 1
        with (
            pytest.raises(EncodingError, match=r"\['bad'\]") as raised,
            d.changeset() as change,
        ):
            change["a"] = 2
            change["bad"] = {1, 2}
        assert str(d.name) in str(raised.value)
        assert make_dict(encoding=JSONEncoding) == {"a": 1}

    def test_an_empty_changeset_writes_and_bumps_nothing(self, make_dict):
        d = make_dict()
        d["a"] = 1
        d.sync()
        before = d.last_updated()
        with d.changeset() as change:
            assert change["a"] == 1
        with d.changeset(check=True) as change:
            change["b"] = 1
            del change["b"]  # a removal of a key the store does not hold
        d.sync()
        assert make_dict() == {"a": 1}
        assert change.state == "applied"
        with pytest.raises(RuntimeError, match="applied"):
            change.apply()
        assert d.last_updated() == before

    def test_defaults_are_read_but_not_removable(self, make_dict):
        d = make_dict(defaults={"limit": 10})
        with d.changeset() as change:
            assert change["limit"] == 10
            with pytest.raises(KeyError):
                del change["limit"]
            change["limit"] = 20
            del change["limit"]
            assert change["limit"] == 10
            change["other"] = 1
        assert make_dict() == {"other": 1}

    # -- compare-and-set ------------------------------------------------------------

    def test_checked_changeset_refuses_when_a_key_it_read_changed(self, make_dict):
        d, other = make_dict(autosync=False), make_dict()
        d.update(a=1, b=2)
        with (
            pytest.raises(ChangesetConflict) as raised,
            d.changeset(check=True) as change,
        ):
            change["b"] = change["a"] + 1
            other["a"] = 5  # another writer, after the read
        assert raised.value.keys == ["a"] and str(d.name) in str(raised.value)
        assert make_dict() == {"a": 5, "b": 2}
        # A key read as absent that another writer then created: refused too.
        with pytest.raises(ChangesetConflict), d.changeset(check=True) as change:
            if "fresh" not in change:
                change["b"] = "no fresh"
            other["fresh"] = 1
        assert make_dict()["b"] == 2

    def test_checked_changeset_ignores_keys_it_did_not_read(self, make_dict):
        d, other = make_dict(autosync=False), make_dict()
        d.update(a=1, b=2, c=3)
        with d.changeset(check=True) as change:
            change["b"] = change["a"] + 1
            change["blind"] = "written without reading"
            other["c"] = 30  # not read: no conflict
            other["unrelated"] = 1
        assert make_dict() == {
            "a": 1,
            "b": 2,
            "c": 30,
            "unrelated": 1,
            "blind": ("written without reading"),
        }
        with d.changeset(check=True) as change:  # stale instance: synced first
            change["b"] = change["c"] + 1
        assert make_dict()["b"] == 31

    def test_checked_changeset_that_iterated_refuses_any_change(self, make_dict):
        d, other = make_dict(autosync=False), make_dict()
        d.update(a=1)
        with (
            pytest.raises(ChangesetConflict) as raised,
            d.changeset(check=True) as change,
        ):
            total = sum(change.values())
            change["total"] = total
            other["added"] = 1
        assert raised.value.keys == ["added"]
        with d.changeset(check=True) as change:  # nothing changed meanwhile
            change["total"] = len(change)
        assert make_dict() == {"a": 1, "added": 1, "total": 2}
