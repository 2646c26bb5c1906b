"""Which channel a pushed ModelDict listens to.

* a Redis token cache (Django's RedisCache or django-redis): the cache's own
  server, on the token key's channel; the bump script publishes after the token
  moved (backends/cacheops.py);
* otherwise, a ``DurableSetting`` namespace on PostgreSQL: LISTEN/NOTIFY
  (push/pgchannel.py);
* otherwise (memcached with SQLite or MariaDB, your own model on anything but a
  Redis cache): no channel, and the dict polls at every sync, as without push.
"""

from __future__ import annotations

import logging
import weakref
from typing import Any

from django_durabledict.push import PushState

logger = logging.getLogger("django_durabledict")


def model_push(owner: Any, backstop: float, name: str) -> PushState:
    """The ``_push`` state of ModelDict *owner*; the channel is chosen when the
    dict first syncs in a process."""
    ref = weakref.ref(owner)

    def connect(state: PushState) -> Any:
        owner = ref()
        return None if owner is None else _connect(owner, state)

    return PushState(name, backstop, connect)


def _connect(owner: Any, state: PushState) -> Any:
    from django.db import connections

    from django_durabledict.backends.cacheops import redis_client_of

    found = redis_client_of(owner.token.cache, owner.token.key)
    if found is not None:
        from django_durabledict.push.redischannel import attach_redis

        return attach_redis(state, *found)
    if owner.versioned and connections[owner.using].vendor == "postgresql":
        from django_durabledict.push.pgchannel import attach_pg, pg_channel

        # NOTIFY comes at commit, before the writer's cache bump: a message makes
        # the next sync compare the database's version rather than trust the
        # cache (backstop_now only sets a time, as the listener thread must).
        state.also_mark = owner.watch.backstop_now
        channel = pg_channel(owner.model._meta.db_table, owner.namespace)
        return attach_pg(state, owner.using, channel)
    logger.warning(
        "%s: PUSH is on, but neither its token cache (Redis) nor its database "
        "(PostgreSQL, DurableSetting) has a channel: it polls at every sync",
        owner,
    )
    return None
