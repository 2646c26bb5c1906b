"""Several OS processes sharing one RedisDict keyspace on the shared Redis."""

import pytest

from django_durabledict.backends.redis import RedisDict
from tests import servers
from tests.redis_helpers import drop, new_keyspace, shared_client
from tests.redis_workers import Worker

pytestmark = [pytest.mark.services("redis"), pytest.mark.slow]


@pytest.fixture(scope="module")
def client():
    if not servers.shared_available("redis"):
        pytest.skip("the shared Redis is not available")
    client = shared_client()
    yield client
    client.close()


@pytest.fixture(scope="module")
def keyspace(client):
    keyspace = new_keyspace()
    yield keyspace
    drop(client, keyspace)


@pytest.fixture(scope="module")
def workers(keyspace):
    """Two processes, started once for the module (spawning costs ~1 s each)."""
    host, port = servers.address("redis")
    workers = [Worker(host, port, keyspace), Worker(host, port, keyspace, True)]
    yield workers
    for worker in workers:
        worker.stop()


@pytest.fixture
def store(client, keyspace, workers):
    """The dicts' shared keyspace, emptied before each test."""
    drop(client, keyspace)
    return RedisDict(keyspace, client, autosync=False)


def everyone(workers, operation, *args_per_worker):
    for worker, args in zip(workers, args_per_worker, strict=True):
        worker.send(operation, *args)
    return [worker.receive() for worker in workers]


def test_concurrent_writers_converge_everywhere(client, keyspace, workers, store):
    everyone(workers, "write", ("a", 100), ("b", 100))
    store.sync()
    expected = {f"{p}{i}": i for p in "ab" for i in range(100)}
    assert store["shared"] in ("a99", "b99")
    expected["shared"] = store["shared"]
    assert store == expected
    assert everyone(workers, "snapshot", (), ()) == [expected, expected]
    assert RedisDict(keyspace, client) == expected


def test_a_change_is_seen_by_the_other_process_on_its_next_read(store, workers):
    autosync_worker = workers[1]
    for value in range(5):
        store["k"] = value
        assert autosync_worker.call("read", "k") == value
    del store["k"]
    assert autosync_worker.call("read", "k") is None


def test_concurrent_pops_remove_each_key_exactly_once(store, workers):
    keys = [f"k{i}" for i in range(200)]
    store.update(dict.fromkeys(keys, 1))
    popped = everyone(workers, "pop", (keys,), (list(reversed(keys)),))
    assert sorted(popped[0] + popped[1]) == sorted(keys)
    assert not set(popped[0]) & set(popped[1])
    store.sync()
    assert store == {}


def test_concurrent_setdefaults_agree_on_one_winner(store, workers):
    keys = [f"k{i}" for i in range(200)]
    results = everyone(workers, "setdefault", (keys, "first"), (keys[::-1], "second"))
    store.sync()
    assert results[0] == results[1] == store.copy()
    assert set(store.values()) <= {"first", "second"}
