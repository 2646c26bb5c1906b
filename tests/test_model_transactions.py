"""ModelDict inside database transactions: a writer sees its own writes at once,
nobody else sees them before commit, and a rolled-back write is never seen."""

import threading

import pytest
from django.db import connections, transaction

from django_durabledict.backends import cacheops
from django_durabledict.models import DurableSetting
from tests.modelsupport import DATABASES, ModelDictFactory, combo

COMBOS = [combo(db, "default") for db in DATABASES]


@pytest.fixture(params=COMBOS)
def make_dict(request):
    database, cache = request.param
    return ModelDictFactory(database, cache)


def in_thread(function):
    """Run *function* in another thread (its own connection) and return its result."""
    result = {}

    def run():
        try:
            result["value"] = function()
        except BaseException as exc:  # re-raised in the caller
            result["error"] = exc
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(30)
    assert not thread.is_alive()
    if "error" in result:
        raise result["error"]
    return result["value"]


def atomic(factory):
    return transaction.atomic(using=factory.database)


def test_own_write_is_seen_at_once_inside_the_transaction(make_dict):
    d, other = make_dict(autosync=False), make_dict(autosync=True)
    d["a"] = 0
    other.sync()
    with atomic(make_dict):
        d["a"] = 1
        d["b"] = 2
        assert d["a"] == 1 and d == {"a": 1, "b": 2}
        # other threads reading the same instance: not before commit
        assert in_thread(lambda: d.get("a")) == 0
        assert in_thread(lambda: "b" in d) is False
        # another instance, in another thread: not before commit either ...
        assert in_thread(lambda: other["a"]) == 0
        # ... while in this thread it shows what this transaction sees
        assert other["a"] == 1
    # committed: the instance shows it to every thread without a sync
    assert d["a"] == 1 and in_thread(lambda: d.get("b")) == 2
    assert other["a"] == 1 and other["b"] == 2  # first sync after commit


def test_rolled_back_write_is_never_seen(make_dict):
    d, other = make_dict(autosync=False), make_dict(autosync=True)
    d["a"] = 0
    with pytest.raises(RuntimeError), atomic(make_dict):
        d["a"] = 1
        d["new"] = 1
        del d["a"]
        assert "a" not in d and d["new"] == 1
        raise RuntimeError
    assert d == {"a": 0}
    d.sync()
    assert d == {"a": 0}
    assert other == {"a": 0}
    assert make_dict() == {"a": 0}


def test_rolled_back_savepoint_drops_only_its_writes(make_dict):
    d = make_dict(autosync=False)
    with atomic(make_dict):
        d["kept"] = 1
        with pytest.raises(RuntimeError), atomic(make_dict):
            d["dropped"] = 1
            d["kept"] = 2
            raise RuntimeError
        assert d == {"kept": 1}
        d["later"] = 3
    assert d == {"kept": 1, "later": 3}
    assert make_dict() == {"kept": 1, "later": 3}


def test_pop_and_setdefault_inside_a_rolled_back_transaction(make_dict):
    d = make_dict(autosync=False)
    d["a"] = 1
    with pytest.raises(RuntimeError), atomic(make_dict):
        assert d.pop("a") == 1
        assert d.setdefault("b", 2) == 2
        assert d == {"b": 2}
        raise RuntimeError
    assert d == {"a": 1}
    assert make_dict() == {"a": 1}


def test_orm_writes_of_the_transaction_show_in_its_own_thread(make_dict):
    d = make_dict(autosync=True)
    rows = DurableSetting.objects.using(make_dict.database)
    with atomic(make_dict):
        rows.create(namespace=make_dict.namespace, key="orm", value="1")
        assert d["orm"] == 1
        assert in_thread(lambda: "orm" in d) is False
        rows.filter(namespace=make_dict.namespace).update(value="2")
        assert d["orm"] == 2
    assert d["orm"] == 2 and in_thread(lambda: d["orm"]) == 2


def test_a_rolled_back_view_never_shows_in_the_next_transaction(make_dict):
    """The view made in a rolled-back transaction ends with it, even when the
    thread's next read is already inside another transaction."""
    d = make_dict(autosync=False)
    rows = DurableSetting.objects.using(make_dict.database)
    with atomic(make_dict):
        rows.create(namespace=make_dict.namespace, key="gone", value='"tmp"')
        d.sync()
        assert d["gone"] == "tmp"
        transaction.set_rollback(True, using=make_dict.database)
    with atomic(make_dict):
        assert "gone" not in d  # no sync between the two transactions
        d.sync()
        assert "gone" not in d
    assert "gone" not in d


def test_a_write_committed_during_a_readers_transaction(make_dict):
    """The reader is inside its own transaction when another process commits: it
    reloads into its view (what its transaction sees) and, once its transaction
    ends, its first sync shows the new value."""
    if make_dict.database == "default":
        pytest.skip("SQLite: a reader's open transaction blocks every writer")
    writer, reader = make_dict(), make_dict(autosync=False)
    writer["a"] = 1
    reader.sync()
    with atomic(make_dict):
        assert reader["a"] == 1
        list(DurableSetting.objects.using(make_dict.database).all())  # a snapshot
        in_thread(lambda: writer.__setitem__("a", 2))
        reader.sync()
        assert reader["a"] in (1, 2)  # 1 under REPEATABLE READ, 2 else
        assert in_thread(lambda: reader["a"]) == 1  # the shared snapshot: not synced
    reader.sync()
    assert reader["a"] == 2
    assert in_thread(lambda: reader["a"]) == 2


def test_dict_built_inside_a_transaction(make_dict):
    make_dict()["a"] = 1
    with atomic(make_dict):
        d = make_dict(autosync=False)
        assert d["a"] == 1
        d["b"] = 2
    assert d == {"a": 1, "b": 2}
    d.sync()
    assert d == {"a": 1, "b": 2}


def test_writes_in_a_transaction_bump_the_token_once_after_commit(
    make_dict, monkeypatch
):
    # One change moves the token by one here, so "bumped once" shows as +1.
    monkeypatch.setattr(cacheops, "random_step", lambda: 1)
    d = make_dict(autosync=False)
    d["x"] = 0
    before = d.token.read()
    with atomic(make_dict):
        for i in range(5):
            d[f"k{i}"] = i
        assert d.token.read() == before
    assert d.token.read() == before + 1
