"""The peers: django-constance and django-waffle, configured as their docs say.

Neither has a per-request hook: every read goes to the cache (or Redis).
"""

from __future__ import annotations

from typing import Any

from benchmarks.systems.base import Reader, System, key_name

BATCH = 1000


class Constance(System):
    """django-constance with its DatabaseBackend behind a Django cache."""

    name = "constance-db-memcached"
    label = "django-constance DatabaseBackend (PostgreSQL, memcached)"
    group = "peer"
    hook_text = "none"
    modules = ("constance",)
    services = ("postgresql", "memcached")
    database = "postgresql"
    cache = "memcached"
    backend = "constance.backends.database.DatabaseBackend"

    def __init__(self, context: dict[str, Any]) -> None:
        super().__init__(context)
        # The declared keys: CONSTANCE_CONFIG is this very dict, and constance
        # keeps a reference to it, so populate() changes it in place.
        self.declared: dict[str, Any] = {}

    def settings(self) -> dict[str, Any]:
        return {
            "INSTALLED_APPS_EXTRA": ["constance"],
            "CONSTANCE_BACKEND": self.backend,
            "CONSTANCE_CONFIG": self.declared,
            "CONSTANCE_DATABASE_CACHE_BACKEND": "default",
        }

    def _declare(self, size: int) -> None:
        self.declared.clear()
        self.declared.update({key_name(i): (0, "") for i in range(size)})

    def populate(self, size: int) -> None:
        from constance.codecs import dumps
        from constance.models import Constance as Row
        from django.core.cache import cache

        stale = [*self.declared, "autofilled"]
        self._declare(size)
        Row.objects.all().delete()
        rows = [Row(key=key_name(i), value=dumps(i)) for i in range(size)]
        Row.objects.bulk_create(rows, batch_size=BATCH)
        for start in range(0, len(stale), BATCH):
            cache.delete_many(stale[start : start + BATCH])

    def open(self) -> Reader:
        from constance import config

        return Reader(config, read_kind="getattr")

    def writer(self):
        from constance import config

        def write(key: str, value: Any) -> None:
            self.declared.setdefault(key, (0, ""))
            setattr(config, key, value)

        return write


class ConstanceRedisCache(Constance):
    name = "constance-db-redis"
    label = "django-constance DatabaseBackend (PostgreSQL, Redis cache)"
    services = ("postgresql", "redis")
    cache = "redis"


class ConstanceRedis(Constance):
    name = "constance-redis"
    label = "django-constance RedisBackend"
    services = ("redis",)
    database = None
    cache = None
    backend = "constance.backends.redisd.RedisBackend"

    def settings(self) -> dict[str, Any]:
        host, port = self.context["redis"].rsplit(":", 1)
        return {
            **super().settings(),
            "CONSTANCE_REDIS_CONNECTION": {"host": host, "port": int(port)},
            "CONSTANCE_REDIS_PREFIX": self.prefix,
        }

    def populate(self, size: int) -> None:
        from constance import config
        from constance.codecs import dumps

        self._declare(size)
        client = config._backend._rd
        stale = client.keys(self.prefix + "*")
        if stale:
            client.delete(*stale)
        for start in range(0, size, BATCH):
            end = min(size, start + BATCH)
            values = {self.prefix + key_name(i): dumps(i) for i in range(start, end)}
            client.mset(values)


class WaffleSwitches(System):
    """django-waffle switches; ``switch_is_active(name)`` per read."""

    name = "waffle-memcached"
    label = "django-waffle switches (PostgreSQL, memcached)"
    group = "peer"
    hook_text = "none"
    modules = ("waffle",)
    services = ("postgresql", "memcached")
    database = "postgresql"
    cache = "memcached"

    def settings(self) -> dict[str, Any]:
        return {"INSTALLED_APPS_EXTRA": ["waffle"]}

    def populate(self, size: int) -> None:
        from django.core.cache import cache
        from waffle.models import Switch

        names = set(Switch.objects.values_list("name", flat=True))
        names.update(key_name(i) for i in range(size))
        Switch.objects.all().delete()
        rows = [Switch(name=key_name(i), active=bool(i % 2)) for i in range(size)]
        Switch.objects.bulk_create(rows, batch_size=BATCH)
        stale = [Switch._cache_key(name) for name in names]
        for start in range(0, len(stale), BATCH):
            cache.delete_many(stale[start : start + BATCH])

    def open(self) -> Reader:
        from waffle import switch_is_active

        return Reader(switch_is_active, read_kind="call")

    def writer(self):
        from waffle.models import Switch

        def write(key: str, value: Any) -> None:
            switch = Switch.objects.get(name=key)
            switch.active = value
            switch.save()  # flushes the cache keys on commit

        return write

    def new_value(self, round_number: int, old: Any = None) -> Any:
        return not old


class WaffleSwitchesRedis(WaffleSwitches):
    name = "waffle-redis"
    label = "django-waffle switches (PostgreSQL, Redis cache)"
    services = ("postgresql", "redis")
    cache = "redis"
