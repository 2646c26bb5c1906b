"""Changesets driven by random operations on a MemoryDict, checked against a
model: the edits apply all together, and a checked changeset is refused exactly
when a key it read (every key, once it iterated) no longer holds what it read."""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from django_durabledict import MemoryDict
from django_durabledict.backends.memory import MemoryStore
from django_durabledict.changeset import ChangesetConflict
from django_durabledict.encoding import JSONEncoding

keys = st.sampled_from(["a", "b", "c", "d"])
values = st.none() | st.booleans() | st.integers(-2, 2) | st.text(max_size=2)
GONE = object()
operations = st.lists(
    st.one_of(
        st.tuples(st.just("get"), keys),
        st.tuples(st.just("set"), keys, values),
        st.tuples(st.just("del"), keys),
        st.tuples(st.just("pop"), keys),
        st.tuples(st.just("iter")),
    ),
    max_size=6,
)
interference = st.dictionaries(keys, values | st.just(GONE), max_size=2)


def same(a, b):
    return type(a) is type(b) and a == b


def run(change, view, ops):
    """Run *ops* on the changeset and on the plain dict *view*; returns the keys
    read before being written, and whether every key was read."""
    read, written, read_all = set(), set(), False
    for op, *args in ops:
        key = args[0] if args else None
        if op == "iter":
            assert sorted(change) == sorted(view)
            read_all = True
            continue
        if op != "set" and key not in written:
            read.add(key)
        if op == "get":
            assert change.get(key, GONE) == view.get(key, GONE)
        elif op == "set":
            change[key] = view[key] = args[1]
            written.add(key)
        elif op == "pop":
            assert change.pop(key, GONE) == view.pop(key, GONE)
            written.add(key)
        elif key in view:
            del change[key], view[key]
            written.add(key)
        else:
            with pytest.raises(KeyError):
                del change[key]
    return read, read_all


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    start=st.dictionaries(keys, values, max_size=4),
    ops=operations,
    others=interference,
    check=st.booleans(),
)
def test_changesets_agree_with_the_model(start, ops, others, check):
    store = MemoryStore()
    d = MemoryDict(store=store, encoding=JSONEncoding, autosync=False)
    other = MemoryDict(store=store, encoding=JSONEncoding)
    other.update(start)
    stored = dict(start)
    change = d.changeset(check=check)
    base, view = dict(stored), dict(stored)
    read, read_all = run(change, view, ops)
    for key, value in others.items():  # another process, meanwhile
        if value is GONE:
            other.pop(key, None)
            stored.pop(key, None)
        else:
            other[key] = value
            stored[key] = value
    looked_at = set(base) | set(stored) if read_all else read
    removals = [k for k in change.removed if k in base]
    # A changeset without edits applies nothing, and so is never refused.
    conflict = (
        check
        and bool(change.updates or removals)
        and any(not same(base.get(k, GONE), stored.get(k, GONE)) for k in looked_at)
    )
    version = store.version
    if conflict:
        with pytest.raises(ChangesetConflict):
            change.apply()
        assert store.version == version
    else:
        change.apply()
        for key in change.updates:
            stored[key] = view[key]
        writes = change.updates or [k for k in removals if k in stored]
        for key in removals:
            stored.pop(key, None)
        assert store.version == version + (1 if writes else 0)
    d.sync()
    assert {k: JSONEncoding.decode(v) for k, v in store.values.items()} == stored
    assert d.copy() == stored
