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
import threading
from typing import Any

from django_durabledict.backends.cacheops import TokenUnavailable, fresh_token, ops_for

logger = logging.getLogger("django_durabledict")


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
        return ops_for(cache).read(cache, self.key)

    def seed(self) -> int:
        """Create the key at a fresh random value unless another process just did;
        return the value the cache holds now."""
        cache = self.cache
        ops = ops_for(cache)
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
        ops_for(cache).bump(cache, self.key)

    def __repr__(self) -> str:
        return f"<CacheToken {self.key!r} on {self.cache_ref!r}>"


__all__ = [
    "CacheToken",
    "TokenUnavailable",
    "bump_later",
    "client_errors",
    "failed_bumps",
    "fresh_token",
    "retry_failed_bumps",
]
