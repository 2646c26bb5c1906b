"""Helpers for the ZookeeperDict tests, and the worker processes of the race tests
(a plain module, so ``multiprocessing``'s spawn start method can import them)."""

from __future__ import annotations

import contextlib
import threading
import uuid
from typing import Any

from kazoo.client import KazooClient
from kazoo.exceptions import NodeExistsError, NoNodeError
from kazoo.protocol.states import Callback

from django_durabledict.backends.zookeeper import ZookeeperDict
from django_durabledict.backends.zookeeper_client import make_client
from tests.contract import DictFactory


def unique_root() -> str:
    return f"/durabledict-tests/{uuid.uuid4().hex}"


def started(hosts: str, **options: Any) -> KazooClient:
    client = make_client(hosts, options)
    client.start(timeout=30)
    return client


def stop(client: KazooClient) -> None:
    client.stop()
    client.close()


def count_requests(client: KazooClient) -> list[str]:
    """Record the type of every request *client* sends from now on (GetData,
    Create, ...): one entry per request, so the list counts round trips' work."""
    sent: list[str] = []
    original = client._call

    def counting(request, async_object):
        sent.append(type(request).__name__)
        return original(request, async_object)

    client._call = counting
    return sent


def flush(client: KazooClient, timeout: float = 10) -> None:
    """Wait until *client* has run the watch callbacks it has received."""
    done = threading.Event()
    client.handler.dispatch_callback(Callback("flush", done.set, ()))
    assert done.wait(timeout)


def write_raw(client: KazooClient, path: str, data: bytes) -> None:
    """Create or set *path* behind every dict's back."""
    try:
        client.create(path, data, makepath=True)
    except NodeExistsError:
        client.set(path, data)


def delete_tree(client: KazooClient, path: str) -> None:
    with contextlib.suppress(NoNodeError):
        client.delete(path, recursive=True)


class ZookeeperFactory(DictFactory):
    """Dicts on one root, all on one client, as dicts in one process would be:
    a write through one is seen by the others' next read."""

    def __init__(self, hosts: str, root: str) -> None:
        self.hosts, self.root = hosts, root
        self.client = started(hosts)
        self.dicts: list[ZookeeperDict] = []

    def __call__(self, **kwargs: Any) -> ZookeeperDict:
        d = ZookeeperDict(self.root, self.client, **kwargs)
        self.dicts.append(d)
        return d

    def write_raw(self, key: Any, stored: Any) -> None:
        data = stored.encode() if isinstance(stored, str) else stored
        write_raw(self.client, f"{self.root}/{key}", data)
        flush(self.client)

    def close(self) -> None:
        for d in self.dicts:
            d.close()
        delete_tree(self.client, self.root)
        stop(self.client)


# -- worker processes for the race tests ---------------------------------------------


def race_worker(hosts: str, root: str, action: str, n: int, barrier, results) -> None:
    """One process of a race: connect, wait for the others, then *action*."""
    client = started(hosts)
    try:
        d = ZookeeperDict(root, client)
        barrier.wait(60)
        if action == "setdefault":
            results.put(d.setdefault("k", n))
        elif action == "pop":
            results.put(d.pop("k", None))
        elif action == "set":
            for i in range(20):
                d["k"] = [n, i]
            results.put("done")
    finally:
        stop(client)
