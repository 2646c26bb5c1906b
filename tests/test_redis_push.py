"""RedisDict with push (``push=True``): what a sync costs while push is healthy, how
a change reaches a reader, the backstop, and the listener's life in a process.

Round trips are counted on the dict's own client (tests/redis_helpers.py); the
listener holds a connection of its own, which is not counted.
"""

import os

import pytest
import redis

from django_durabledict import push
from django_durabledict.backends.redis import RedisDict
from tests import servers
from tests.redis_helpers import (
    CommandLog,
    counting_client,
    drop,
    new_keyspace,
    shared_client,
)

pytestmark = pytest.mark.services("redis")

# The token, then the changed keys read through the change log (incremental).
RELOAD = [["GET"], ["EVALSHA"]]


@pytest.fixture
def log():
    return CommandLog()


@pytest.fixture
def keyspace():
    client = shared_client()
    keyspace = new_keyspace()
    yield keyspace
    drop(client, keyspace)
    client.close()


@pytest.fixture
def counted(log):
    host, port = servers.address("redis")
    client = counting_client(log, host, port)
    yield client
    client.close()


@pytest.fixture(autouse=True)
def no_listeners_left():
    yield
    push.stop_all()


def live_reader(client, keyspace, log, **kwargs):
    """A pushed reader whose subscription is confirmed and whose first poll
    after it is done, with the log cleared."""
    reader = RedisDict(keyspace, client, push=True, **kwargs)
    assert servers.wait_until(reader._push.is_live, 10)
    reader.sync()  # the poll the (re)subscription asks for
    log.clear()
    return reader


def test_nothing_changed_costs_no_round_trip_while_push_is_live(log, counted, keyspace):
    RedisDict(keyspace, shared_client())["a"] = 1
    reader = live_reader(counted, keyspace, log, autosync=False)
    for _ in range(100):
        reader.sync()
        assert reader["a"] == 1
    assert log.round_trips == []
    reader.autosync = True  # reads check the store first: still nothing to do
    for _ in range(100):
        assert reader["a"] == 1 and reader.get("b") is None and len(reader) == 1
    assert log.round_trips == []
    status = reader._push_status()
    assert status["live"] and status["channel"] == "redis"
    assert status["last_heard"] is not None and status["last_poll"] is not None


def test_a_change_marks_the_reader_dirty_and_its_next_sync_reloads(
    log, counted, keyspace
):
    writer = RedisDict(keyspace, shared_client(), autosync=False)
    reader = live_reader(counted, keyspace, log, autosync=False)
    for value in range(5):
        writer["a"] = value
        assert servers.wait_until(lambda: reader._push.dirty, 10)
        log.clear()
        reader.sync()
        assert log.round_trips == RELOAD and reader["a"] == value
        log.clear()
        reader.sync()
        assert log.round_trips == []
    assert reader._push_status()["last_message"] is not None


def test_every_change_script_announces_the_change(log, counted, keyspace):
    writer = RedisDict(keyspace, shared_client(), autosync=False)
    reader = live_reader(counted, keyspace, log, autosync=False)
    changes = [
        lambda: writer.__setitem__("a", 1),
        lambda: writer.setdefault("b", 2),
        lambda: writer.pop("a"),
        lambda: writer.update(c=3, d=4),
        lambda: writer._apply({"e": 5}, ["c"]),
        writer.clear,
    ]
    for change in changes:
        reader._push.dirty = False
        change()
        assert servers.wait_until(lambda: reader._push.dirty, 10)
        reader.sync()
        assert reader.copy() == writer.copy()


def test_a_lost_message_is_seen_within_the_backstop(log, counted, keyspace):
    reader = live_reader(counted, keyspace, log, autosync=False, push_backstop=0.5)
    # A change that announces nothing: the message is "lost".
    raw = shared_client()
    raw.hset(keyspace, "a", "1")
    raw.incrby(keyspace + "last_updated", 12345)
    reader.sync()
    assert reader.get("a") is None  # push is trusted until the backstop
    assert servers.wait_until(lambda: reader.sync() or reader.get("a") == 1, 5)
    # One poll per backstop at most: a handful of GETs, not one per sync.
    polls = [trip for trip in log.round_trips if trip == ["GET"]]
    assert 1 <= len(polls) <= 12
    raw.close()


def test_one_subscriber_connection_per_server_and_process(keyspace):
    with servers.start_redis() as server:
        admin = redis.Redis(host=server.host, port=server.port, decode_responses=True)
        dicts = [
            RedisDict(name, redis.Redis(host=server.host, port=server.port), push=True)
            for name in (keyspace, keyspace, keyspace + "-other")
        ]
        assert servers.wait_until(lambda: all(d._push.is_live() for d in dicts), 10)
        clients = admin.client_list(_type="pubsub")
        assert len(clients) == 1 and clients[0]["sub"] == "2"
        assert len(push.listeners()) == 1
        for d in dicts:
            d.close()
        assert servers.wait_until(lambda: not admin.client_list(_type="pubsub"), 10)
        assert push.listeners() == []
        admin.close()


def test_without_push_nothing_listens_and_every_sync_polls(log, counted, keyspace):
    reader = RedisDict(keyspace, counted, autosync=False)
    log.clear()
    for _ in range(3):
        reader.sync()
    assert log.round_trips == [["GET"]] * 3
    assert reader._push_status() is None and push.listeners() == []


@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded")
def test_a_forked_child_starts_its_own_listener(keyspace):
    with servers.start_redis() as server:
        admin = redis.Redis(host=server.host, port=server.port)
        reader = RedisDict(keyspace, admin, autosync=False, push=True)
        assert servers.wait_until(reader._push.is_live, 10)
        pid = os.fork()
        if pid == 0:  # the child: not live until its own listener subscribes
            code = 1
            try:
                polled = reader._push.should_poll()
                admin.connection_pool.reset()  # the parent's sockets stay its own
                reader.sync()
                live = servers.wait_until(reader._push.is_live, 10)
                subscribers = len(admin.client_list(_type="pubsub"))
                code = 0 if polled and live and subscribers == 2 else 1
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert reader._push.is_live()
        reader.close()
        admin.close()


class WritesAfterItsLoad(RedisDict):
    """A reader whose reload is overtaken: another client writes just after the
    reload read the store, and the message arrives before the sync returns."""

    sneak = None

    def _load_and_publish(self, token):
        loaded = super()._load_and_publish(token)
        sneak, self.sneak = self.sneak, None
        if sneak is not None:
            sneak()
            assert servers.wait_until(lambda: self._push.last_message, 10)
        return loaded


def test_a_message_during_a_reload_is_not_lost(log, counted, keyspace):
    writer = RedisDict(keyspace, shared_client(), autosync=False)
    reader = WritesAfterItsLoad(keyspace, counted, autosync=False, push=True)
    assert servers.wait_until(reader._push.is_live, 10)
    reader.sync()
    writer["v"] = 1
    assert servers.wait_until(lambda: reader._push.dirty, 10)
    reader._push.last_message = None
    reader.sneak = lambda: writer.__setitem__("v", 2)
    reader.sync()  # loads v = 1; v = 2 is written and announced meanwhile
    assert reader["v"] == 1 and reader._push.dirty
    reader.sync()
    assert reader["v"] == 2


def test_configured_with_push_and_stopped_by_close_all(keyspace):
    from django.test import override_settings

    from django_durabledict.registry import dicts

    entry = {
        "BACKEND": "django_durabledict.backends.redis.RedisDict",
        "LOCATION": "redis://{}:{}/0".format(*servers.address("redis")),
        "KEYSPACE": keyspace,
        "PUSH": True,
        "PUSH_BACKSTOP": 2,
    }
    with override_settings(DURABLEDICTS={"pushed": entry}):
        d = dicts["pushed"]
        assert servers.wait_until(d._push.is_live, 10)
        assert d._push.backstop == 2 and d.status().push["live"]
        dicts.close_all()
        assert servers.wait_until(lambda: push.listeners() == [], 10)
        assert d._push_status()["live"] is False
