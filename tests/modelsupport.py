"""Helpers for the ModelDict tests: database x cache combinations, a factory for
the contract suite, and counters of real cache round trips."""

from __future__ import annotations

import contextlib
import uuid
from collections import Counter

import pytest
from django.conf import settings
from django.core.cache import caches

from django_durabledict.backends.model import ModelDict
from django_durabledict.models import DurableSetting
from tests.contract import DictFactory
from tests.models import RenamedSetting, Setting

DATABASES = ["default", "postgresql", "mariadb"]
CACHES = ["default", "memcached", "redis", "redis_builtin"]
SHARED_CACHES = ["memcached", "redis", "redis_builtin"]

_DB_SERVICE = {"default": [], "postgresql": ["postgresql"], "mariadb": ["mariadb"]}
_CACHE_SERVICE = {
    "default": [],
    "memcached": ["memcached"],
    "redis": ["redis"],
    "redis_builtin": ["redis"],
}


def db_marks(alias: str) -> list:
    return [
        pytest.mark.django_db(transaction=True, databases=[alias]),
        pytest.mark.services(*_DB_SERVICE[alias]),
    ]


def combo(database: str, cache: str) -> object:
    """A pytest.param of (database alias, cache alias) with its marks."""
    services = _DB_SERVICE[database] + _CACHE_SERVICE[cache]
    return pytest.param(
        (database, cache),
        id=f"{database}-{cache}",
        marks=[
            pytest.mark.django_db(transaction=True, databases=[database]),
            pytest.mark.services(*services),
        ],
    )


ALL_COMBOS = [combo(db, cache) for db in DATABASES for cache in CACHES]


def cache_configured(alias: str) -> bool:
    return alias in settings.CACHES


class ModelDictFactory(DictFactory):
    """ModelDicts on a fresh DurableSetting namespace (or the user's Setting
    table), on one database and one cache."""

    supports_pickle = True

    def __init__(self, database: str, cache: str, user_model: str | None = None):
        self.database = database
        self.cache = cache
        #: None (DurableSetting), "setting" (tests.Setting) or "renamed"
        #: (tests.RenamedSetting, with key_col/value_col).
        self.user_model = user_model
        self.namespace = f"test-{uuid.uuid4().hex[:12]}"

    def __call__(self, **kwargs):
        kwargs.setdefault("database", self.database)
        if self.user_model == "setting":
            return ModelDict(Setting.objects, self.cache, **kwargs)
        if self.user_model == "renamed":
            kwargs.update(key_col="name", value_col="payload")
            return ModelDict(RenamedSetting.objects, self.cache, **kwargs)
        kwargs.setdefault("namespace", self.namespace)
        return ModelDict(None, self.cache, **kwargs)

    def write_raw(self, key, stored):
        if self.user_model == "setting":
            Setting.objects.using(self.database).update_or_create(
                key=key, defaults={"value": stored}
            )
            self().touch_last_updated()
            return
        if self.user_model == "renamed":
            RenamedSetting.objects.using(self.database).update_or_create(
                name=key, defaults={"payload": stored}
            )
            self().touch_last_updated()
            return
        DurableSetting.objects.using(self.database).update_or_create(
            namespace=self.namespace, key=key, defaults={"value": stored}
        )


class CacheCalls:
    """Counts round trips to the cache servers (or locmem calls) while active."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()

    @property
    def total(self) -> int:
        return sum(self.calls.values())


@contextlib.contextmanager
def count_cache_calls():
    """Count every command sent to Redis, every memcached command, and every
    LocMemCache method call, whichever cache the code under test uses."""
    import pymemcache.client.base
    import redis.client
    from django.core.cache.backends.locmem import LocMemCache

    counter = CacheCalls()
    monkeypatch = pytest.MonkeyPatch()

    def counting(owner, name, label):
        original = getattr(owner, name)

        def wrapper(self, *args, **kwargs):
            counter.calls[label(args)] += 1
            return original(self, *args, **kwargs)

        monkeypatch.setattr(owner, name, wrapper)

    counting(redis.client.Redis, "execute_command", lambda a: f"redis:{a[0]}")
    base = pymemcache.client.base.Client
    counting(base, "_fetch_cmd", lambda a: f"memcached:{a[0].decode()}")
    counting(base, "_store_cmd", lambda a: f"memcached:{a[0].decode()}")
    counting(base, "_misc_cmd", lambda a: f"memcached:{a[1].decode()}")
    for method in ("get", "add", "set", "incr", "delete"):
        counting(LocMemCache, method, lambda a, m=method: f"locmem:{m}")
    try:
        yield counter
    finally:
        monkeypatch.undo()


def clear_token(factory: ModelDictFactory, d: ModelDict) -> None:
    caches[factory.cache].delete(d.token.key)
