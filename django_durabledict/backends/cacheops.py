"""How a CacheToken talks to each kind of Django cache (see cachetoken.py).

One class per family: memcached reads the token with ``incr key 0`` and Redis with a
raw ``GET`` on the cache's own client, so neither ever unpickles what the cache
holds; other caches go through Django's public cache API.
"""

from __future__ import annotations

import logging
import secrets
from typing import Any

logger = logging.getLogger("django_durabledict")


class TokenUnavailable(Exception):
    """The cache did not give a trustworthy answer."""


def fresh_token() -> int:
    """A random 62-bit token, never small (the top of the 62 bits is always set)."""
    return secrets.randbits(61) | (1 << 61)


def random_step() -> int:
    """How far one change moves a token: random, not 1. A cache that goes back
    without losing the key (a failover to a lagging replica) would otherwise count
    up to exactly the token a reader holds, and that reader would miss a change."""
    return secrets.randbelow(1 << 31) + 1


# Runs as one command on the server: INCR only a key that exists, so a token that
# was evicted stays missing instead of coming back as 1. Either way the change is
# announced on a channel named after the key (push/redischannel.py), once the
# token has moved: a pushed reader whose token vanished must poll too.
_INCR_IF_EXISTS = """
local moved = false
if redis.call('EXISTS', KEYS[1]) == 1 then
  moved = redis.call('INCRBY', KEYS[1], ARGV[1])
end
redis.call('PUBLISH', KEYS[1], '')
return moved
"""


def _as_token(value: Any) -> int | None:
    """The integer in *value* (int, or the bytes of a decimal), or None if it is
    anything else. ``bool`` is refused: a failing client answers ``False``."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, (bytes, str)):
        try:
            return int(value)
        except ValueError:
            return None
    return None


class _GenericOps:
    """Any Django cache, through its public API (locmem, database, file, dummy)."""

    def read(self, cache: Any, key: str) -> int | None:
        value = cache.get(key)
        if value is None:
            return None
        token = _as_token(value)
        return token if token is not None else self.replace(cache, key)

    def add(self, cache: Any, key: str, value: int) -> bool:
        return bool(cache.add(key, value, timeout=None))

    def bump(self, cache: Any, key: str) -> None:
        try:
            result = cache.incr(key, random_step())
        except ValueError:  # missing: readers reload anyway
            return
        except TypeError:  # not a number: replace it, which is a change too
            self.replace(cache, key)
            return
        if _as_token(result) is None:
            raise TokenUnavailable(f"the cache answered {result!r} to incr")

    def replace(self, cache: Any, key: str) -> int:
        logger.warning("durabledict: replacing the non-integer token %r", key)
        value = fresh_token()
        cache.set(key, value, timeout=None)
        return value


class _MemcachedOps(_GenericOps):
    """Django's memcached caches: ``incr key 0`` reads the number on the server."""

    def read(self, cache: Any, key: str) -> int | None:
        # Django disconnects its memcached client at every request_finished
        # (close_caches), so reading through it opens a TCP connection per
        # request. A client of the token's own, per cache object (Django's are
        # per thread), keeps its connection.
        client = cache.__dict__.get("_durabledict_token_client")
        if client is None:
            client = cache._class(cache.client_servers, **cache._options)
            cache.__dict__["_durabledict_token_client"] = client
        try:
            value = client.incr(cache.make_and_validate_key(key), 0)
            if value is None:  # pymemcache's "not found"
                return None
        except ValueError:
            return None
        except Exception as exc:
            if _is_non_numeric(exc):
                return self.replace(cache, key)
            raise
        token = _as_token(value)
        if token is None:
            raise TokenUnavailable(f"memcached answered {value!r} to incr")
        return token

    def bump(self, cache: Any, key: str) -> None:
        try:
            super().bump(cache, key)
        except Exception as exc:
            if not _is_non_numeric(exc):
                raise
            self.replace(cache, key)


def _is_non_numeric(exc: Exception) -> bool:
    return "non-numeric" in str(exc)


class _RedisOps:
    """Django's RedisCache and django-redis: raw commands on the cache's own
    client (its pool, timeouts and retries), below the pickling serializer."""

    def __init__(self, client_of) -> None:
        self.client_of = client_of

    def read(self, cache: Any, key: str) -> int | None:
        client, name = self.client_of(cache, key)
        value = client.get(name)
        if value is None:
            return None
        token = _as_token(value)
        return token if token is not None else self.replace(cache, key)

    def add(self, cache: Any, key: str, value: int) -> bool:
        client, name = self.client_of(cache, key)
        return bool(client.set(name, value, nx=True))

    def bump(self, cache: Any, key: str) -> None:
        from redis.exceptions import ResponseError

        client, name = self.client_of(cache, key)
        try:
            client.eval(_INCR_IF_EXISTS, 1, name, random_step())
        except ResponseError:  # not an integer: replace it (xx: only if present)
            client.set(name, fresh_token(), xx=True)
            client.publish(name, "")

    def replace(self, cache: Any, key: str) -> int:
        logger.warning("durabledict: replacing the non-integer token %r", key)
        client, name = self.client_of(cache, key)
        value = fresh_token()
        client.set(name, value)
        return value


def redis_client_of(cache: Any, key: str) -> tuple[Any, str] | None:
    """``(redis client, key name on the server)`` of *key* when *cache* is a Redis
    cache (Django's or django-redis), else ``None``: what push subscribes with."""
    ops = ops_for(cache)
    return ops.client_of(cache, key) if isinstance(ops, _RedisOps) else None


def _django_redis_client(cache: Any, key: str) -> tuple[Any, str]:
    # The primary: a replica may lag behind a bump a reader must see.
    return cache.client.get_client(write=True), cache.make_key(key)


def _builtin_redis_client(cache: Any, key: str) -> tuple[Any, str]:
    name = cache.make_and_validate_key(key)
    return cache._cache.get_client(name, write=True), name


def ops_for(cache: Any) -> Any:
    """The operations for *cache*'s backend class (memoised per class)."""
    cls = type(cache)
    ops = _OPS_BY_CLASS.get(cls)
    if ops is None:
        ops = _OPS_BY_CLASS[cls] = _choose_ops(cache)
    return ops


def _choose_ops(cache: Any) -> Any:
    names = {f"{c.__module__}.{c.__qualname__}" for c in type(cache).__mro__}
    if "django.core.cache.backends.memcached.BaseMemcachedCache" in names:
        return _MemcachedOps()
    if "django.core.cache.backends.redis.RedisCache" in names:
        return _RedisOps(_builtin_redis_client)
    if "django_redis.cache.RedisCache" in names and hasattr(
        getattr(cache, "client", None), "get_client"
    ):
        return _RedisOps(_django_redis_client)
    return _GenericOps()


_OPS_BY_CLASS: dict[type, Any] = {}
