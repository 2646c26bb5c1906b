"""Concurrent writers of one key, as threads on several clients and as processes:
creates never collide into an error or an empty node, setdefault agrees on one
winner, pop hands a value to exactly one caller."""

import multiprocessing
import threading

import pytest

from django_durabledict.backends.zookeeper import ZookeeperDict
from tests import servers
from tests.zookeeper_helpers import (
    count_requests,
    delete_tree,
    race_worker,
    started,
    stop,
    unique_root,
)

pytestmark = pytest.mark.services("zookeeper")
THREADS = 8


@pytest.fixture(scope="module")
def hosts():
    return "{}:{}".format(*servers.address("zookeeper"))


@pytest.fixture
def clients(hosts):
    clients = [started(hosts) for _ in range(4)]
    yield clients
    for client in clients:
        stop(client)


@pytest.fixture
def root(clients):
    path = unique_root()
    yield path
    delete_tree(clients[0], path)


def run_threads(target):
    """Run target(i) on THREADS threads released together; return the results."""
    start, results, errors = threading.Barrier(THREADS), [None] * THREADS, []

    def run(i):
        try:
            start.wait(10)
            results[i] = target(i)
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == [] and not any(t.is_alive() for t in threads)
    return results


def dicts_on(clients, root):
    return [ZookeeperDict(root, clients[i % len(clients)]) for i in range(THREADS)]


def test_threads_creating_one_key_all_succeed_with_full_values(clients, root):
    dicts = dicts_on(clients, root)
    sent = [count_requests(client) for client in clients]
    run_threads(lambda i: dicts[i].__setitem__("k", {"writer": i}))
    final = ZookeeperDict(root, clients[0])["k"]
    assert final["writer"] in range(THREADS)
    # Each writer sent one Create; the losers then set instead. No create ever
    # left an empty node behind for a reader to trip on.
    kinds = [kind for requests in sent for kind in requests]
    assert kinds.count("Create") >= THREADS and "SetData" in kinds


def test_threads_setdefault_agree_on_one_winner(clients, root):
    dicts = dicts_on(clients, root)
    results = run_threads(lambda i: dicts[i].setdefault("k", i))
    assert len(set(results)) == 1
    assert ZookeeperDict(root, clients[1])["k"] == results[0]
    assert all(d["k"] == results[0] for d in dicts)


def test_threads_popping_one_key_hand_it_to_exactly_one(clients, root):
    ZookeeperDict(root, clients[0])["k"] = "prize"
    dicts = dicts_on(clients, root)
    results = run_threads(lambda i: dicts[i].pop("k", None))
    assert results.count("prize") == 1 and results.count(None) == THREADS - 1
    assert ZookeeperDict(root, clients[0]) == {}


def run_processes(hosts, root, action, count=4):
    """Run race_worker in *count* spawned processes; return what each put."""
    context = multiprocessing.get_context("spawn")  # kazoo threads and fork: no
    barrier, results = context.Barrier(count), context.Queue()
    processes = [
        context.Process(
            target=race_worker, args=(hosts, root, action, n, barrier, results)
        )
        for n in range(count)
    ]
    for process in processes:
        process.start()
    outputs = [results.get(timeout=90) for _ in processes]
    for process in processes:
        process.join(30)
        assert process.exitcode == 0
    return outputs


@pytest.mark.slow
def test_processes_racing_on_one_key(hosts, clients, root):
    reader = ZookeeperDict(root, clients[0])
    winners = run_processes(hosts, root, "setdefault")
    assert len(set(winners)) == 1 and reader["k"] == winners[0]
    popped = run_processes(hosts, root, "pop")
    assert popped.count(winners[0]) == 1 and popped.count(None) == 3
    assert run_processes(hosts, root, "set") == ["done"] * 4
    # The last write of all was some process's last write; every reader, this
    # autosync one and a fresh one, ends on it.
    final = ZookeeperDict(root, clients[1])["k"]
    assert final[0] in range(4) and final[1] == 19
    assert servers.wait_until(lambda: reader.get("k") == final, 10, 0.01)
