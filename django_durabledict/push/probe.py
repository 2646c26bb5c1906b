"""What the push system checks ask: which channel an entry with ``PUSH: True``
would use, and whether its server answers now (one connection, short timeouts,
closed at once). Nothing here builds a dict or starts a listener."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: Seconds a probe may wait for a server.
PROBE_TIMEOUT = 1.0


def channel_of(backend: type, config: Mapping[str, Any]) -> tuple[str, Any] | None:
    """``("redis", client)`` or ``("postgresql", alias)`` for the channel the entry
    would listen to, or ``None`` when it has none (it polls)."""
    from django_durabledict.backends.model import ModelDict
    from django_durabledict.backends.redis import RedisDict

    if issubclass(backend, RedisDict):
        return "redis", _redis_client(config)
    if issubclass(backend, ModelDict):
        return _model_channel(config)
    return None


def _redis_client(config: Mapping[str, Any]) -> Any:
    from django_durabledict.backends.redis_client import (
        django_redis_client,
        import_redis,
    )

    if config.get("CONNECTION"):
        return django_redis_client(config["CONNECTION"])
    redis = import_redis()
    return redis.Redis.from_url(config["LOCATION"])


def _model_channel(config: Mapping[str, Any]) -> tuple[str, Any] | None:
    from django.core.cache import caches
    from django.db import connections, router

    from django_durabledict.backends.cacheops import redis_client_of

    found = redis_client_of(caches[config.get("CACHE", "default")], "probe")
    if found is not None:
        return "redis", found[0]
    if config.get("MODEL"):
        return None
    from django_durabledict.models import DurableSetting

    using = config.get("DATABASE") or router.db_for_write(DurableSetting)
    if connections[using].vendor == "postgresql":
        return "postgresql", using
    return None


def unreachable(kind: str, target: Any) -> str | None:
    """Why the channel's server cannot be reached now, or ``None`` if it answers."""
    try:
        if kind == "redis":
            _ping_redis(target)
        else:
            _ping_postgresql(target)
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def _ping_redis(client: Any) -> None:
    from django_durabledict.push.redischannel import _connection

    connection = _connection(client)
    connection.socket_timeout = connection.socket_connect_timeout = PROBE_TIMEOUT
    try:
        connection.connect()
        connection.send_command("PING")
        connection.read_response()
    finally:
        connection.disconnect()


def _ping_postgresql(using: str) -> None:
    import psycopg

    from django_durabledict.push.pgchannel import _connection_params

    params = {**_connection_params(using), "connect_timeout": 1}
    with psycopg.connect(**params, autocommit=True) as connection:
        connection.execute("SELECT 1")
