"""This project, one small class per backend and token cache.

When the Django integration is there (``django_durabledict.registry``), a dict is
configured in ``DURABLEDICTS``, built by the ``dicts`` registry and synced by
``DurableDictSyncMiddleware``, exactly as a user's project does; before that, it is
built directly and ``sync()`` is the per-request hook.
"""

from __future__ import annotations

import functools
import json
from importlib.util import find_spec
from typing import Any

from benchmarks.systems.base import Reader, System, key_name

ALIAS = "bench"
BATCH = 1000


def integrated() -> bool:
    """Whether the registry and the middleware exist in this checkout."""
    return find_spec("django_durabledict.middleware") is not None


class Ours(System):
    """Base of our systems: subclasses give :meth:`entry` and :meth:`build`."""

    group = "ours"
    hook_text = "DurableDictSyncMiddleware"

    def hook(self) -> str:
        return self.hook_text if integrated() else "sync()"

    def entry(self) -> dict[str, Any]:
        """This dict's ``DURABLEDICTS`` entry."""
        raise NotImplementedError

    def build(self) -> Any:
        """A new instance of the dict with autosync off, outside the registry:
        built from its DURABLEDICTS entry, as the registry would; subclasses
        build it directly for checkouts without the Django integration."""
        from django_durabledict.conf import app_settings

        config = app_settings.config(ALIAS)
        return config["BACKEND"].from_config(ALIAS, config)

    def settings(self) -> dict[str, Any]:
        return {"DURABLEDICTS": {ALIAS: self.entry()}} if integrated() else {}

    def open(self) -> Reader:
        if not integrated():
            d = self.build()
            return Reader(d, hook=d.sync, closers=[d.close])
        from django.http import HttpRequest

        from django_durabledict.middleware import DurableDictSyncMiddleware
        from django_durabledict.registry import dicts

        dicts.close_all()  # a fresh instance, as in a new worker process
        d = dicts[ALIAS]
        middleware = DurableDictSyncMiddleware(lambda request: None)
        hook = functools.partial(middleware, HttpRequest())
        return Reader(d, hook=hook, registry=(dicts, ALIAS), closers=[dicts.close_all])

    def writer(self):
        # Another process's own dict; in this process (cross_process False), a
        # second instance, not the reader's.
        if integrated() and self.cross_process:
            from django_durabledict.registry import dicts

            return dicts[ALIAS].__setitem__
        return self.build().__setitem__


class OursMemory(Ours):
    name = "ours-memory"
    label = "django-durabledict MemoryDict"
    database = None
    cache = None
    cross_process = False
    expected_counts = {"queries": 0, "network": 0}
    expected_change_counts = {"queries": 0, "network": 0}

    def __init__(self, context: dict[str, Any]) -> None:
        super().__init__(context)
        from django_durabledict.backends.memory import MemoryStore

        self.store = MemoryStore()

    def entry(self) -> dict[str, Any]:
        # NoOpEncoding, MemoryDict's own default: values are kept as given.
        return {
            "BACKEND": "django_durabledict.backends.memory.MemoryDict",
            "ENCODING": "django_durabledict.encoding.NoOpEncoding",
            "OPTIONS": {"store": self.store},
        }

    def build(self) -> Any:
        if integrated():
            return super().build()
        from django_durabledict.backends.memory import MemoryDict

        return MemoryDict(autosync=False, store=self.store)

    def populate(self, size: int) -> None:
        with self.store.lock:
            self.store.values = {key_name(i): i for i in range(size)}
            self.store.changed()


class OursRedis(Ours):
    name = "ours-redis"
    label = "django-durabledict RedisDict"
    services = ("redis",)
    modules = ("django_durabledict.backends.redis", "redis")
    database = None
    cache = None
    expected_counts = {"queries": 0, "redis": 1, "network": 1}
    # The token GET, then the token and the hash in one MULTI/EXEC.
    expected_change_counts = {"queries": 0, "redis": 2, "network": 2}

    @property
    def keyspace(self) -> str:
        return self.prefix + "dict"

    def _client(self) -> Any:
        import redis

        return redis.Redis.from_url(f"redis://{self.context['redis']}/0")

    def entry(self) -> dict[str, Any]:
        return {
            "BACKEND": "django_durabledict.backends.redis.RedisDict",
            "LOCATION": f"redis://{self.context['redis']}/0",
            "KEYSPACE": self.keyspace,
        }

    def build(self) -> Any:
        if integrated():
            return super().build()
        from django_durabledict.backends.redis import RedisDict

        return RedisDict(self.keyspace, self._client(), autosync=False)

    def populate(self, size: int) -> None:
        client = self._client()
        client.delete(self.keyspace)
        for start in range(0, size, BATCH):
            end = min(size, start + BATCH)
            mapping = {key_name(i): json.dumps(i) for i in range(start, end)}
            client.hset(self.keyspace, mapping=mapping)
        # A missing counter makes every reader reload and seed a fresh one.
        client.delete(self.keyspace + "last_updated")
        client.close()


class OursZookeeper(Ours):
    """ZookeeperDict: one znode per key; watches make an unchanged sync free."""

    name = "ours-zookeeper"
    label = "django-durabledict ZookeeperDict"
    services = ("zookeeper",)
    modules = ("django_durabledict.backends.zookeeper", "kazoo")
    database = None
    cache = None
    expected_counts = {"queries": 0, "zookeeper": 0, "network": 0}

    @property
    def path(self) -> str:
        return f"/durabledict-bench/{self.context['run_id']}/{self.name}"

    def entry(self) -> dict[str, Any]:
        return {
            "BACKEND": "django_durabledict.backends.zookeeper.ZookeeperDict",
            "HOSTS": self.context["zookeeper"],
            "PATH": self.path,
        }

    def _client(self) -> Any:
        from kazoo.client import KazooClient

        client = KazooClient(hosts=self.context["zookeeper"])
        client.start(timeout=30)
        return client

    def populate(self, size: int) -> None:
        client = self._client()
        try:
            client.delete(self.path, recursive=True)
            client.ensure_path(self.path)
            for start in range(0, size, BATCH):
                pending = [
                    client.create_async(
                        f"{self.path}/{key_name(i)}", json.dumps(i).encode()
                    )
                    for i in range(start, min(size, start + BATCH))
                ]
                for result in pending:
                    result.get(timeout=30)
        finally:
            client.stop()
            client.close()

    def cleanup(self) -> None:
        client = self._client()
        try:
            client.delete(self.path.rsplit("/", 1)[0], recursive=True)
        finally:
            client.stop()
            client.close()


def wait_for_push(reader: Reader) -> Reader:
    """Wait until the reader's push subscription is live and its first poll done,
    so the measured requests see push as a long-running worker does."""
    import time

    d = reader.target
    deadline = time.monotonic() + 30
    while not d._push.is_live():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{d}: push did not become live")
        time.sleep(0.01)
    d.sync()
    return reader


class OursRedisPush(OursRedis):
    """RedisDict with PUSH: an unchanged request makes no round trip."""

    name = "ours-redis-push"
    label = "django-durabledict RedisDict, PUSH"
    hook_text = "DurableDictSyncMiddleware, PUSH"
    expected_counts = {"queries": 0, "redis": 0, "network": 0}

    def entry(self) -> dict[str, Any]:
        return {**super().entry(), "PUSH": True}

    def build(self) -> Any:
        from django_durabledict.conf import app_settings

        config = app_settings.config(ALIAS)
        return config["BACKEND"].from_config(ALIAS, config)

    def open(self) -> Reader:
        return wait_for_push(super().open())
