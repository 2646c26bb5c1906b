"""The original durabledict 0.9.4, as its README sets it up on Python 3.

Python 3 needs three things (durabledict-spec.md sections 8 and 12): the
``base64.encodestring``/``decodestring`` aliases removed in Python 3.9,
``JSONEncoding``, and a Redis client with ``decode_responses=True``. Its README
recipe ``request_started.connect(d.sync)`` is broken (B17: ``sync`` takes no
``**kwargs``), so the receiver is a small wrapper.
"""

from __future__ import annotations

import base64
from typing import Any

from benchmarks.systems.base import Reader, System, key_name

BATCH = 1000


def _python3_shims() -> None:
    base64.encodestring = base64.encodebytes  # type: ignore[attr-defined]
    base64.decodestring = base64.decodebytes  # type: ignore[attr-defined]


class OriginalModelDict(System):
    name = "original-model-pg-memcached"
    label = "original durabledict ModelDict (PostgreSQL, memcached)"
    group = "original"
    hook_text = "sync() on request_started"
    modules = ("durabledict",)
    services = ("postgresql", "memcached")
    database = "postgresql"
    cache = "memcached"
    expected_counts = {"queries": 0, "memcached": 1}

    def _make(self, autosync: bool):
        _python3_shims()
        from django.core.cache import caches
        from durabledict.encoding import JSONEncoding
        from durabledict.models import ModelDict

        from benchmarks.models import OriginalSetting

        return ModelDict(
            OriginalSetting.objects,
            caches["default"],
            autosync=autosync,
            encoding=JSONEncoding,
        )

    def populate(self, size: int) -> None:
        import json

        from django.core.cache import cache

        from benchmarks.models import OriginalSetting

        OriginalSetting.objects.all().delete()
        rows = [
            OriginalSetting(key=key_name(i), value=json.dumps(i)) for i in range(size)
        ]
        OriginalSetting.objects.bulk_create(rows, batch_size=BATCH)
        if not cache.add("last_updated", 1):
            cache.incr("last_updated")

    def open(self) -> Reader:
        from django.core.signals import request_started

        d = self._make(autosync=False)

        def sync_on_request(**kwargs: Any) -> None:
            d.sync()

        request_started.connect(sync_on_request, weak=False)
        return Reader(d, closers=[lambda: request_started.disconnect(sync_on_request)])

    def writer(self):
        d = self._make(autosync=False)
        return d.__setitem__


class OriginalRedisDict(System):
    name = "original-redis"
    label = "original durabledict RedisDict"
    group = "original"
    hook_text = "sync() on request_started"
    modules = ("durabledict",)
    services = ("redis",)
    database = None
    cache = None
    expected_counts = {"queries": 0, "redis": 1}

    def _make(self):
        _python3_shims()
        import redis
        from durabledict.encoding import JSONEncoding
        from durabledict.redis import RedisDict

        host, port = self.context["redis"].rsplit(":", 1)
        client = redis.Redis(host=host, port=int(port), decode_responses=True)
        return RedisDict(
            self.prefix + "dict", client, autosync=False, encoding=JSONEncoding
        )

    def populate(self, size: int) -> None:
        import json

        import redis

        host, port = self.context["redis"].rsplit(":", 1)
        client = redis.Redis(host=host, port=int(port))
        keyspace = self.prefix + "dict"
        client.delete(keyspace)
        for start in range(0, size, BATCH):
            end = min(size, start + BATCH)
            mapping = {key_name(i): json.dumps(i) for i in range(start, end)}
            client.hset(keyspace, mapping=mapping)
        client.incr(keyspace + "last_updated")
        client.close()

    def open(self) -> Reader:
        from django.core.signals import request_started

        d = self._make()

        def sync_on_request(**kwargs: Any) -> None:
            d.sync()

        request_started.connect(sync_on_request, weak=False)
        return Reader(d, closers=[lambda: request_started.disconnect(sync_on_request)])

    def writer(self):
        return self._make().__setitem__
