"""ModelDict with push: a Redis token cache (django-redis, Django's RedisCache) or
PostgreSQL LISTEN/NOTIFY; writers in other OS processes; no channel on memcached
with SQLite (polling, as without push).

Costs are counted: cache commands with tests/modelsupport.count_cache_calls,
queries with CaptureQueriesContext. The listener's own connection is neither.
"""

import uuid

import pytest
from django.db import connections
from django.test.utils import CaptureQueriesContext

from django_durabledict import push
from django_durabledict.backends.model import ModelDict
from tests import servers
from tests.model_workers import start_workers
from tests.modelsupport import combo, count_cache_calls

pytestmark = pytest.mark.slow

#: (database, cache) -> the channel push uses.
PUSHED = [
    combo("default", "redis"),
    combo("default", "redis_builtin"),
    combo("postgresql", "memcached"),
    combo("postgresql", "redis"),
]
CHANNEL = {"redis": "redis", "redis_builtin": "redis", "memcached": "postgresql"}


@pytest.fixture(autouse=True)
def no_listeners_left():
    yield
    push.stop_all()


@pytest.fixture
def namespace():
    return f"push-{uuid.uuid4().hex[:10]}"


def pushed(database, cache, namespace, **kwargs):
    reader = ModelDict(
        None,
        cache,
        namespace=namespace,
        database=database,
        autosync=False,
        push=True,
        **kwargs,
    )
    assert servers.wait_until(reader._push.is_live, 10)
    reader.sync()  # the poll the subscription asks for
    return reader


def writers(database, cache, namespace, count=1):
    setup = {"databases": {database: connections[database].settings_dict["NAME"]}}
    options = {"cache": cache, "namespace": namespace, "database": database}
    return start_workers(setup, count, autosync=False, **options)


@pytest.mark.parametrize("combo", PUSHED)
def test_nothing_changed_costs_no_round_trip_and_no_query(combo, namespace):
    database, cache = combo
    ModelDict(None, cache, namespace=namespace, database=database)["a"] = 1
    reader = pushed(database, cache, namespace)
    with (
        count_cache_calls() as calls,
        CaptureQueriesContext(connections[database]) as queries,
    ):
        for _ in range(100):
            reader.sync()
            assert reader["a"] == 1
    assert calls.total == 0 and len(queries) == 0
    status = reader._push_status()
    assert status["live"] and status["channel"] == CHANNEL[cache]
    reader.close()


@pytest.mark.parametrize(
    "combo", [combo("default", "redis_builtin"), combo("postgresql", "memcached")]
)
def test_a_write_in_another_process_reaches_the_reader(combo, namespace):
    database, cache = combo
    reader = pushed(database, cache, namespace)
    (writer,) = writers(database, cache, namespace)
    try:
        for value in range(3):
            reader._push.dirty = False
            writer.call("write", {"a": value})
            assert servers.wait_until(lambda: reader._push.dirty, 10)
            reader.sync()
            assert reader["a"] == value
            with count_cache_calls() as calls:
                reader.sync()
            assert calls.total == 0
    finally:
        writer.close()
        reader.close()


@pytest.mark.parametrize("combo", [combo("postgresql", "memcached")])
def test_nothing_is_announced_before_commit_nor_after_rollback(
    combo, namespace, tmp_path
):
    database, cache = combo
    reader = pushed(database, cache, namespace)
    (writer,) = writers(database, cache, namespace)
    hold = str(tmp_path / "hold")
    try:
        for outcome in ("rolled back", "committed"):
            reader._push.dirty = False
            if outcome == "rolled back":
                open(hold + ".rollback", "w").close()
            writer.send("long_transaction", "a", outcome, hold)
            # The write is made and its transaction held open: no message yet.
            assert not servers.wait_until(lambda: reader._push.dirty, 1.0)
            open(hold, "w").close()
            assert writer.receive() == outcome
            if outcome == "rolled back":
                (tmp_path / "hold").unlink()
                (tmp_path / "hold.rollback").unlink()
                reader.sync()
                assert "a" not in reader
            else:
                assert servers.wait_until(lambda: reader._push.dirty, 10)
                reader.sync()
                assert reader["a"] == "committed"
    finally:
        writer.close()
        reader.close()


@pytest.mark.django_db(transaction=True, databases=["postgresql"])
@pytest.mark.services("postgresql", "memcached")
def test_listener_backend_terminated_no_change_missed(namespace):
    """pg_terminate_backend on the listener's backend (the shared server cannot be
    restarted): the dicts poll at every sync until it has listened again, then
    once more; a change made in between is seen."""
    reader = pushed("postgresql", "memcached", namespace, backstop_interval=3600)
    (writer,) = writers("postgresql", "memcached", namespace)
    admin = connections["postgresql"]
    try:
        for value in range(3):
            assert servers.wait_until(reader._push.is_live, 10)
            with admin.cursor() as cursor:
                cursor.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE application_name = %s AND datname = current_database()",
                    [push.pgchannel.APPLICATION_NAME],
                )
                assert cursor.fetchone() is not None
            writer.call("write", {"a": value})
            assert servers.wait_until(
                lambda v=value: reader.sync() or reader.get("a") == v, 10
            )
        assert servers.wait_until(reader._push.is_live, 10)
    finally:
        writer.close()
        reader.close()


@pytest.mark.django_db(transaction=True, databases=["default"])
@pytest.mark.services("memcached")
def test_no_channel_polls_at_every_sync(namespace, caplog):
    reader = ModelDict(
        None, "memcached", namespace=namespace, autosync=False, push=True
    )
    with count_cache_calls() as calls:
        for _ in range(3):
            reader.sync()
    assert calls.total == 3  # one token read each, exactly as without push
    assert reader._push_status()["live"] is False
    assert "has a channel" in caplog.text
    assert push.listeners() == []
