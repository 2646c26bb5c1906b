"""Making and checking the redis-py clients RedisDict uses.

redis-py and django-redis are imported inside these functions, never at import
time, so a project without Redis can import the package.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ImproperlyConfigured

MISSING_REDIS = "RedisDict needs redis: pip install django-durabledict[redis]"


def import_redis() -> Any:
    """The redis module, or ImproperlyConfigured saying how to install it."""
    try:
        import redis
        import redis.cluster
    except ImportError:
        raise ImproperlyConfigured(MISSING_REDIS) from None
    return redis


def recommended_client_options() -> dict[str, Any]:
    """Keyword arguments for ``redis.Redis`` that bound what a dead or paused
    server costs a call: one 0.5 s timeout, instead of redis-py's default of up to
    eleven attempts of 5 s each.

    A dropped connection (a restarted server) is retried once at once; a timeout
    is not retried, so a paused server costs one ``socket_timeout`` and a write
    that timed out is not sent twice."""
    redis = import_redis()
    from redis.backoff import ExponentialWithJitterBackoff
    from redis.retry import Retry

    backoff = ExponentialWithJitterBackoff(cap=0.1, base=0.01)
    return {
        "socket_connect_timeout": 0.5,
        "socket_timeout": 0.5,
        "health_check_interval": 15,
        "retry": Retry(backoff, 1, supported_errors=(redis.ConnectionError,)),
    }


def django_redis_client(alias: str) -> Any:
    """The write client of the django-redis cache *alias*, shared with it."""
    import_redis()
    try:
        from django_redis import get_redis_connection
    except ImportError:
        raise ImproperlyConfigured(MISSING_REDIS) from None
    return get_redis_connection(alias, write=True)


def check_cache_alias(alias: Any) -> list[str]:
    """What is wrong with *alias* as a django-redis cache, one sentence each."""
    from django.conf import settings

    caches = getattr(settings, "CACHES", {})
    if not isinstance(alias, str) or alias not in caches:
        return [f"CONNECTION {alias!r} is not an alias in CACHES."]
    backend = caches[alias].get("BACKEND", "")
    if not backend.startswith("django_redis."):
        return [
            f"CONNECTION {alias!r} must be a django-redis cache "
            f"(django_redis.cache.RedisCache), not {backend!r}."
        ]
    return []
