"""ModelDict incremental sync and a writer's own view, on every database.

A sync after a change reads only what changed (one query), and always ends equal
to a full reload; a write shows a state the store held, never our write patched
onto an older state (issues 14 and 15)."""

import uuid

import pytest
from django.db import connections, transaction
from django.db.models import QuerySet
from django.test.utils import CaptureQueriesContext
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, rule, run_state_machine_as_test

from django_durabledict.backends.model import ModelDict
from django_durabledict.models import DurableNamespace, DurableSetting, DurableTombstone
from tests.modelsupport import DATABASES, ModelDictFactory, combo

DB_COMBOS = [combo(db, "default") for db in DATABASES]
MISSING = object()


@pytest.fixture(params=DB_COMBOS)
def make(request):
    return ModelDictFactory(*request.param)


def queries(d):
    return CaptureQueriesContext(connections[d.using])


def full(make):
    """What a fresh full reload shows."""
    return make(autosync=False).copy()


def fill(writer, count):
    writer._apply({f"k{i}": {"n": i} for i in range(count)}, [])


# -- Incremental syncs ---------------------------------------------------------


@pytest.mark.parametrize("changes", [1, 100])
def test_a_sync_after_changes_is_one_query_of_the_changes(make, changes):
    reader, writer = make(autosync=False), make(autosync=False)
    fill(writer, 300)
    reader.sync()
    before = reader.copy()
    writer._apply({f"k{i}": {"n": -i} for i in range(changes)}, [])
    with queries(reader) as captured:
        reader.sync()
    assert len(captured) == 1
    assert "UNION ALL" in captured[0]["sql"]
    assert reader.copy() == full(make)
    # Unchanged keys keep their decoded objects; changed ones are decoded anew.
    assert reader["k299"] is before["k299"]
    assert reader["k0"] is not before["k0"]


def test_a_mutated_value_does_not_survive_a_change_of_its_key(make):
    reader, writer = make(autosync=False), make(autosync=False)
    writer["x"], writer["y"] = [1], [2]
    reader.sync()
    reader["x"].append("mutated")
    reader["y"].append("mutated")  # shared with every reader of this snapshot
    writer["x"] = [3]
    reader.sync()
    assert reader["x"] == [3]
    assert reader["y"] == [2, "mutated"]  # documented: never mutate a read value


def delete_paths(make):
    rows = DurableSetting.objects.using(make.database).namespace(make.namespace)
    other = f"{make.namespace}-other"

    def instance_delete():
        rows.get(key="k1").delete()

    def rename():
        row = rows.get(key="k2")
        row.key = "renamed"
        row.save()

    def bulk_rename():
        row = rows.get(key="k3")
        row.key = "bulk-renamed"
        DurableSetting.objects.using(make.database).bulk_update([row], ["key"])

    return [
        lambda: make(autosync=False).pop("k0"),
        instance_delete,
        rename,
        bulk_rename,
        lambda: rows.filter(key="k4").delete(),
        lambda: rows.filter(key="k5").update(key="moved"),
        lambda: rows.filter(key="k6").update(namespace=other),
        lambda: make(autosync=False)._apply({}, ["k7", "k8"]),
        lambda: make(autosync=False).clear(),
    ]


def test_every_way_of_deleting_leaves_a_tombstone(make):
    reader, writer = make(autosync=False), make(autosync=False)
    fill(writer, 12)
    reader.sync()
    for delete in delete_paths(make):
        delete()
        with queries(reader) as captured:
            reader.sync()
        assert len(captured) == 1
        assert reader.copy() == full(make)
    assert reader.copy() == {}


def test_a_deleted_key_created_again_is_shown(make):
    reader, writer = make(autosync=False), make(autosync=False)
    writer["a"] = 1
    reader.sync()
    del writer["a"]
    writer["a"] = 2
    reader.sync()
    assert reader.copy() == {"a": 2}
    del writer["a"]
    reader.sync()
    assert reader.copy() == {}


def test_a_snapshot_older_than_the_pruning_horizon_reloads_in_full(make):
    reader, writer = make(autosync=False), make(autosync=False)
    fill(writer, 5)
    reader.sync()
    del writer["k0"]
    assert writer.prune_tombstones(max_age=0) == 1
    assert not DurableTombstone.objects.using(make.database).filter(
        namespace=make.namespace
    )
    with queries(reader) as captured:
        reader.sync()
    assert len(captured) == 2  # the changes, refused; then everything
    assert reader.copy() == full(make)
    writer["k1"] = "after"  # past the horizon now: incremental again
    with queries(reader) as captured:
        reader.sync()
    assert len(captured) == 1 and reader["k1"] == "after"


def test_a_version_that_went_backwards_reloads_in_full(make):
    reader, writer = make(autosync=False), make(autosync=False)
    fill(writer, 3)
    reader.sync()
    namespace = DurableNamespace.objects.using(make.database).filter(
        name=make.namespace
    )
    loaded = reader.watch.loaded_version
    DurableSetting.objects.using(make.database).filter(key="k0").delete()
    namespace.update(version=loaded - 10, pruned=loaded - 10)
    with queries(reader) as captured:
        reader.sync()
    assert len(captured) == 2
    assert reader.copy() == full(make)


def test_a_namespace_created_again_starts_a_new_history(make):
    reader, writer = make(autosync=False), make(autosync=False)
    fill(writer, 3)
    del writer["k0"]
    reader.sync()
    DurableNamespace.objects.using(make.database).filter(name=make.namespace).delete()
    writer["k1"] = "new history"
    assert not DurableTombstone.objects.using(make.database).filter(
        namespace=make.namespace
    )  # the old history's tombstones went with it
    reader.sync()
    assert reader.copy() == full(make) == {"k1": "new history", "k2": {"n": 2}}


def test_touch_last_updated_makes_every_snapshot_reload_in_full(make):
    reader, writer = make(autosync=False), make(autosync=False)
    fill(writer, 3)
    reader.sync()
    # Behind the history's back: a plain queryset stamps no version.
    plain = QuerySet(DurableSetting, using=make.database)
    plain.filter(namespace=make.namespace, key="k0").update(value='"raw"')
    writer.touch_last_updated()
    with queries(reader) as captured:
        reader.sync()
    assert len(captured) == 2  # the changes, refused; then everything
    assert reader["k0"] == "raw"


@pytest.mark.django_db(transaction=True)
def test_a_users_model_keeps_full_reloads():
    factory = ModelDictFactory("default", "default", user_model="setting")
    reader = factory(autosync=False)
    factory.write_raw("a", "1")
    assert reader._load_changes(reader.last_synced) is None
    reader.sync()
    assert reader["a"] == 1


# -- A writer's own view -------------------------------------------------------


def operations():
    return {
        "set": lambda d: d.__setitem__("mine", 2),
        "pop": lambda d: d.pop("gone"),
        "setdefault": lambda d: d.setdefault("mine", 2),
        "update": lambda d: d.update({"mine": 2, "also": 3}),
        "clear": lambda d: d.clear(),
        "apply": lambda d: d._apply({"mine": 2}, ["gone"]),
    }


@pytest.mark.parametrize("operation", sorted(operations()))
def test_a_write_after_another_writers_shows_both(make, operation):
    mine, theirs = make(autosync=False), make(autosync=False)
    theirs["gone"] = 0
    mine.sync()
    theirs["theirs"] = 1
    operations()[operation](mine)
    assert mine.copy() == full(make)  # never {'mine': 2} without 'theirs'
    assert "theirs" in mine or operation == "clear"


def test_a_write_over_the_snapshots_own_version_is_patched_without_a_query(make):
    d = make(autosync=False)
    d["a"] = 1  # creates the namespace: learns its version by catching up
    with queries(d) as alone:
        d["b"] = 2
    with queries(d) as sync_after_patch:
        d.sync()  # the cache token moved (our own bump): the changes, none
    make(autosync=False)["theirs"] = 3
    with queries(d) as behind:
        d["c"] = 4
    assert d.copy() == full(make)
    assert len(behind) == len(alone) + 1  # the changes, loaded once
    with queries(d) as sync_after_catch_up:
        d.sync()  # the catch-up read the token after our bump
    assert (len(sync_after_patch), len(sync_after_catch_up)) == (1, 0)
    print(f"\nqueries per write: {len(alone)} alone, {len(behind)} behind another")


def test_writes_in_a_transaction_show_after_commit_as_one_state(make):
    mine, theirs = make(autosync=False), make(autosync=False)
    mine.sync()
    theirs["theirs"] = 1
    with transaction.atomic(using=make.database):
        mine["a"] = 1
        mine["b"] = 2
        assert mine.copy() == {"theirs": 1, "a": 1, "b": 2}
    assert mine.copy() == full(make) == {"theirs": 1, "a": 1, "b": 2}


def test_a_rolled_back_write_leaves_the_snapshot_as_it_was(make):
    d = make(autosync=False)
    d["a"] = 1
    with transaction.atomic(using=make.database):
        d["b"] = 2
        transaction.set_rollback(True, using=make.database)
    assert d.copy() == full(make) == {"a": 1}


# -- An incremental snapshot always equals a full reload -----------------------

keys = st.sampled_from(["a", "b", "c", "d"])
values = st.integers(0, 3) | st.lists(st.integers(0, 2), max_size=2)


class IncrementalMachine(RuleBasedStateMachine):
    database = "default"

    def __init__(self):
        super().__init__()
        self.factory = ModelDictFactory(self.database, "default")
        self.factory.namespace = f"hyp-{uuid.uuid4().hex[:10]}"
        self.d = self.factory(autosync=False)
        self.other = self.factory(autosync=False)

    def stored(self):
        return self.factory(autosync=False).copy()

    def check(self):
        assert self.d.copy() == self.stored()

    @rule(key=keys, value=values)
    def other_sets(self, key, value):
        self.other[key] = value

    @rule(key=keys)
    def other_pops(self, key):
        self.other.pop(key, None)

    @rule(key=keys, value=values)
    def sets(self, key, value):
        changes = self.stored().get(key, MISSING) != value
        self.d[key] = value
        if changes:  # a write shows the store as it is (one thread, no race)
            self.check()

    @rule(key=keys, value=values)
    def sets_default(self, key, value):
        self.d.setdefault(key, value)  # may find the key: then nothing to show

    @rule(key=keys)
    def pops(self, key):
        if self.d.pop(key, MISSING) is not MISSING:  # else nothing to show
            self.check()

    @rule(removals=st.lists(keys, max_size=2), value=values)
    def applies(self, removals, value):
        self.d._apply({"a": value}, removals)
        self.check()

    @rule()
    def prunes(self):
        self.other.prune_tombstones(max_age=0)

    @rule()
    def mutates_a_read_value(self):
        self.d.sync()
        value = self.d.get("a")
        if isinstance(value, list):
            self.other["a"] = [*value, 9]  # a change: the mutation must not survive
            value.append("mutated")

    @rule()
    def syncs(self):
        self.d.sync()
        self.check()


@pytest.mark.parametrize("make", DB_COMBOS, indirect=True)
def test_an_incremental_snapshot_always_equals_a_full_reload(make):
    machine = type("Machine", (IncrementalMachine,), {"database": make.database})
    run_state_machine_as_test(
        machine,
        settings=settings(
            max_examples=15,
            stateful_step_count=25,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )


# -- Configuration -------------------------------------------------------------


@pytest.mark.parametrize("bad", [0, -1, "60", True, None])
def test_tombstone_max_age_must_be_a_positive_number(bad):
    config = {"TOMBSTONE_MAX_AGE": bad, "OPTIONS": {}}
    assert "TOMBSTONE_MAX_AGE must be a positive number of seconds." in (
        ModelDict.check_config("flags", config)
    )
