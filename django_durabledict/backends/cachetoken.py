"""The version hint of a ``ModelDict``: one integer in a Django cache.

Three operations, each one cache round trip in the common case:

* :meth:`CacheToken.read` returns the integer, or ``None`` when the key is missing.
* :meth:`CacheToken.seed` puts a fresh random 62-bit value there with an atomic
  ``add`` (never 1, never derived from an old value) and returns what the cache
  then holds.
* :meth:`CacheToken.bump` changes the value atomically (``incr``); a missing key
  is left missing, since readers treat "missing" as "changed" anyway.

The token is read as a plain integer and a value planted in the cache is never
unpickled. Django's cache ``get`` unpickles anything that is not an integer on
memcached and Redis, so those caches are read below the pickling layer: memcached
with ``incr key 0`` (the server answers with the number, or refuses a non-numeric
value), Redis with a raw ``GET`` on the client the cache already holds. A value that
is not an integer is replaced with a fresh random one, which readers see as a change.
Other caches (locmem, database, file) go through the public cache API.

Any doubt about the cache is :class:`TokenUnavailable`: an error raised by the
client, or a Django cache silently answering ``None``/``False`` (pymemcache's
"failing" state, django-redis ``IGNORE_EXCEPTIONS``) where it must have an answer.
"""

from __future__ import annotations

import functools
import logging
import secrets
import threading
from typing import Any

logger = logging.getLogger("django_durabledict")

# Runs as one command on the server: INCR only a key that exists, so a token that
# was evicted stays missing instead of coming back as 1.
_INCR_IF_EXISTS = """
if redis.call('EXISTS', KEYS[1]) == 1 then return redis.call('INCR', KEYS[1]) end
return false
"""


class TokenUnavailable(Exception):
    """The cache did not give a trustworthy answer."""


def fresh_token() -> int:
    """A random 62-bit token, never small (the top of the 62 bits is always set)."""
    return secrets.randbits(61) | (1 << 61)


@functools.cache
def client_errors() -> tuple[type[BaseException], ...]:
    """Exceptions meaning "the cache is unreachable or refused the command"."""
    errors: list[type[BaseException]] = [OSError, TokenUnavailable]
    try:
        from pymemcache.exceptions import MemcacheError

        errors.append(MemcacheError)
    except ImportError:
        pass
    try:
        from redis.exceptions import RedisError

        errors.append(RedisError)
    except ImportError:
        pass
    try:
        from django_redis.exceptions import ConnectionInterrupted

        errors.append(ConnectionInterrupted)
    except ImportError:
        pass
    return tuple(errors)


# Bumps that failed in this process (the cache was down when a transaction
# committed), retried once the cache answers again: a late bump is always safe.
_failed: dict[Any, CacheToken] = {}
_failed_lock = threading.Lock()


def bump_later(token: CacheToken) -> None:
    with _failed_lock:
        _failed[token.identity] = token


def failed_bumps() -> bool:
    return bool(_failed)


def retry_failed_bumps() -> None:
    with _failed_lock:
        tokens = list(_failed.values())
        _failed.clear()
    for token in tokens:
        try:
            token.bump()
        except client_errors():
            bump_later(token)
        except Exception:  # a cache alias gone from settings, say: give up on it
            logger.exception("durabledict: cannot retry the bump of %s", token)


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


class CacheToken:
    """The token of one dict, under *key* in a Django cache.

    *cache* is a cache alias (looked up per thread, as Django's cache objects are
    not thread-safe) or a cache object (used as given)."""

    def __init__(self, cache: Any, key: str) -> None:
        self.cache_ref = cache
        self.key = key

    @property
    def cache(self) -> Any:
        if isinstance(self.cache_ref, str):
            from django.core.cache import caches

            return caches[self.cache_ref]
        return self.cache_ref

    @property
    def identity(self) -> tuple[Any, str]:
        """Equal for two tokens naming the same key on the same cache alias."""
        ref = self.cache_ref
        return (ref if isinstance(ref, str) else id(ref), self.key)

    def read(self) -> int | None:
        """The current token, or ``None`` when the key is missing."""
        cache = self.cache
        return _ops(cache).read(cache, self.key)

    def seed(self) -> int:
        """Create the key at a fresh random value unless another process just did;
        return the value the cache holds now."""
        cache = self.cache
        ops = _ops(cache)
        value = fresh_token()
        if ops.add(cache, self.key, value):
            return value
        # Another process seeded it first, or the cache failed silently: read
        # back what it holds; nothing there means the cache is not working.
        token = ops.read(cache, self.key)
        if token is None:
            raise TokenUnavailable(f"the cache holds no value for {self.key!r}")
        return token

    def bump(self) -> None:
        """Change the token atomically; leave a missing key missing."""
        cache = self.cache
        _ops(cache).bump(cache, self.key)

    def __repr__(self) -> str:
        return f"<CacheToken {self.key!r} on {self.cache_ref!r}>"


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
            result = cache.incr(key)
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
        try:
            value = cache.incr(key, 0)
        except ValueError:  # Django's "Key not found"
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
            client.eval(_INCR_IF_EXISTS, 1, name)
        except ResponseError:  # not an integer: replace it (xx: only if present)
            client.set(name, fresh_token(), xx=True)

    def replace(self, cache: Any, key: str) -> int:
        logger.warning("durabledict: replacing the non-integer token %r", key)
        client, name = self.client_of(cache, key)
        value = fresh_token()
        client.set(name, value)
        return value


def _django_redis_client(cache: Any, key: str) -> tuple[Any, str]:
    # The primary: a replica may lag behind a bump a reader must see.
    return cache.client.get_client(write=True), cache.make_key(key)


def _builtin_redis_client(cache: Any, key: str) -> tuple[Any, str]:
    name = cache.make_and_validate_key(key)
    return cache._cache.get_client(name, write=True), name


def _ops(cache: Any) -> Any:
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
