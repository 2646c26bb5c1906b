"""Pushed RedisDicts under faults, against a private redis-server, with writers
(and a reader) in other OS processes.

The property: no read is stale beyond the bound. A read that starts at time t is
stale when it returns a value older than one acknowledged before t - BOUND. The
backstop is set far above BOUND (30 s), so these tests show that the listener's
own recovery (poll on every sync while down, mark dirty on resubscribe, notice a
paused process) keeps readers fresh, not the backstop.
"""

import os
import signal
import time

import pytest
import redis

from django_durabledict import push
from django_durabledict.backends.redis import RedisDict
from django_durabledict.push import Listener
from tests import servers
from tests.push_workers import Reader, stale_reads, start_writer
from tests.redis_helpers import (
    CommandLog,
    counting_client,
    fast_fail_options,
    new_keyspace,
)

pytestmark = [pytest.mark.services("redis-server"), pytest.mark.slow]

BOUND = 0.5  # seconds: far below the backstop
BACKSTOP = 30.0


@pytest.fixture
def server():
    with servers.start_redis() as server:
        yield server


@pytest.fixture
def keyspace():
    return new_keyspace()


@pytest.fixture(autouse=True)
def no_listeners_left():
    yield
    push.stop_all()


def admin_of(server):
    return redis.Redis(host=server.host, port=server.port, decode_responses=True)


def pushed_reader(server, keyspace, log=None):
    options = fast_fail_options()
    if log is None:
        client = redis.Redis(host=server.host, port=server.port, **options)
    else:
        client = counting_client(log, server.host, server.port, **options)
    reader = RedisDict(
        keyspace, client, autosync=False, push=True, push_backstop=BACKSTOP
    )
    reader.retry_interval = 0.0
    assert servers.wait_until(reader._push.is_live, 10)
    return reader


def read_while(reader, process, fault=None, every=0.3):
    """Sync and read v until *process* ends, running *fault* every *every* s;
    returns the reads as (started, value)."""
    reads, next_fault = [], time.monotonic() + every
    while process.is_alive():
        started = time.monotonic()
        reader.sync()
        reads.append((started, reader.get("v")))
        if fault is not None and started >= next_fault:
            fault()
            next_fault = started + every
        time.sleep(0.002)
    return reads


def test_nothing_changed_costs_the_server_no_command(server, keyspace):
    """Counted by the server itself (INFO commandstats): 1,000 syncs of a live
    pushed reader run no GET, HGETALL, MULTI or EVALSHA."""
    RedisDict(keyspace, admin_of(server))["v"] = 1
    reader = pushed_reader(server, keyspace)
    reader.sync()
    admin = admin_of(server)
    admin.config_resetstat()
    for _ in range(1000):
        reader.sync()
        assert reader["v"] == 1
    stats = admin.info("commandstats")
    assert not {"cmdstat_get", "cmdstat_hgetall", "cmdstat_multi"} & set(stats)


def test_subscriber_killed_no_stale_read(server, keyspace):
    admin = admin_of(server)
    reader = pushed_reader(server, keyspace)
    process, results = start_writer(server.host, server.port, keyspace, 300, 0.01)

    def kill():
        admin.client_kill_filter(_type="pubsub")

    reads = read_while(reader, process, kill)
    acked = results.get(timeout=30)["acked"]
    assert len(acked) == 300
    assert stale_reads(reads, acked, BOUND) == []
    reader.sync()
    assert reader["v"] == 300
    # The listener reconnected after every kill, with one connection.
    assert servers.wait_until(reader._push.is_live, 10)
    assert len(admin.client_list(_type="pubsub")) == 1


def test_restarted_empty_no_stale_read(server, keyspace):
    reader = pushed_reader(server, keyspace)
    process, results = start_writer(server.host, server.port, keyspace, 300, 0.01)
    restarted = []

    def restart():
        if not restarted:
            server.restart()  # empty: the hash and the counter are gone
            restarted.append(time.monotonic())

    reads = read_while(reader, process, restart, every=1.0)
    outcome = results.get(timeout=30)
    assert restarted
    # Writes acknowledged before the restart were lost with the data: staleness
    # is measured against those acknowledged after it.
    after = [(v, at) for v, at in outcome["acked"] if at > restarted[0]]
    assert len(after) > 50
    assert stale_reads(reads, after, BOUND) == []
    reader.sync()
    assert reader["v"] == after[-1][0]


def test_reader_process_paused_reads_fresh_at_once_after(server, keyspace):
    writer = RedisDict(keyspace, admin_of(server), autosync=False)
    writer["v"] = 1
    reader = Reader(server.host, server.port, keyspace, BACKSTOP)
    try:
        assert servers.wait_until(lambda: reader.call("status")["live"], 10)
        for pause, value in ((2.0, 2), (0.3, 3), (4.0, 4)):
            assert reader.call("read")[1] == value - 1
            os.kill(reader.process.pid, signal.SIGSTOP)
            writer["v"] = value
            time.sleep(pause)
            # The request waits in the pipe as the message waits in the socket.
            reader.pipe.send("read")
            os.kill(reader.process.pid, signal.SIGCONT)
            assert reader.pipe.poll(30)
            first = reader.pipe.recv()[1]
            if pause > Listener.stall_after:
                assert first == value  # fresh at once after a long pause
            else:
                # A pause shorter than stall_after may go unnoticed by the read
                # that wakes first, until the listener reads its socket: at
                # most that pause stale, then fresh.
                assert first in (value - 1, value)
                assert servers.wait_until(
                    lambda v=value: reader.call("read")[1] == v, Listener.stall_after
                )
    finally:
        reader.stop()


def test_server_paused_no_stale_read_once_it_answers(server, keyspace):
    log = CommandLog()
    writer = RedisDict(keyspace, admin_of(server), autosync=False)
    writer["v"] = 1
    reader = pushed_reader(server, keyspace, log)
    reader.sync()
    server.pause()
    try:
        # Silent for dead_after: the reader stops trusting push and polls (the
        # polls time out; it serves what it has, as without push).
        assert servers.wait_until(lambda: not reader._push.is_live(), 10)
        log.clear()
        reader.sync()
        assert log.round_trips == [["GET"]] and reader["v"] == 1
    finally:
        server.resume()
    writer["v"] = 2
    reader.sync()
    assert reader["v"] == 2
    assert servers.wait_until(reader._push.is_live, 10)


def test_a_user_who_may_not_subscribe_polls_at_every_sync(server, keyspace):
    admin = admin_of(server)
    admin.execute_command(
        "ACL", "SETUSER", "nosub", "on", ">pw", "~*", "+@all", "-subscribe"
    )
    log = CommandLog()
    client = counting_client(
        log, server.host, server.port, username="nosub", password="pw"
    )
    RedisDict(keyspace, admin)["v"] = 1
    reader = RedisDict(keyspace, client, autosync=False, push=True)
    time.sleep(0.5)  # the listener tries, and is refused
    log.clear()
    for _ in range(5):
        reader.sync()
    assert log.round_trips == [["GET"]] * 5  # exactly as without push
    assert not reader._push_status()["live"]
    reader.close()


@pytest.mark.services("redis-sentinel")
def test_push_through_sentinel(server, keyspace):
    from redis.sentinel import Sentinel

    from tests.test_redis_sentinel import start_sentinel

    with start_sentinel(server.port) as sentinel_server:
        sentinel = Sentinel([(servers.HOST, sentinel_server.port)], socket_timeout=1)
        assert servers.wait_until(
            lambda: sentinel.discover_master("primary")[1] == server.port, 20
        )
        client = sentinel.master_for("primary", decode_responses=True)
        reader = RedisDict(keyspace, client, autosync=False, push=True)
        assert servers.wait_until(reader._push.is_live, 10)
        reader.sync()
        RedisDict(keyspace, admin_of(server))["v"] = 1
        assert servers.wait_until(lambda: reader._push.dirty, 10)
        reader.sync()
        assert reader["v"] == 1
        reader.close()
