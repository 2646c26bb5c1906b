"""Push over PostgreSQL ``LISTEN``/``NOTIFY`` for ModelDict on ``DurableSetting``.

The writer side is a ``pg_notify`` in the ``RETURNING`` clause of the statement
that bumps the namespace's version (``DurableNamespaceManager.bump``), inside the
writer's transaction: PostgreSQL delivers it only if that transaction commits, and
only after it has, so no query of the writer is added. The channel is named after
the table and the namespace (``durabledict_`` and an MD5 of ``table:namespace``),
so every database alias on that database announces to the same readers.

The reader side is one psycopg 3 connection per database server per process, of
its own (never one of Django's: those are per thread, closed at the end of each
request, and may be inside a transaction), in autocommit, that LISTENs to the
channels of every pushed dict on that database. psycopg 3.2 or newer is needed.

A message marks the dict dirty and makes its next sync compare the database's
version (one query) before the cache token, so the reload never waits for the
writer's cache bump, which runs after the commit.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

from django_durabledict.push import Listener, PushState, attach

CHANNEL_PREFIX = "durabledict_"
#: How the listener's connection shows in ``pg_stat_activity``.
APPLICATION_NAME = "durabledict push"


def pg_channel(table: str, namespace: str) -> str:
    """The channel of a namespace: 44 characters, a valid identifier."""
    digest = hashlib.md5(f"{table}:{namespace}".encode(), usedforsecurity=False)
    return CHANNEL_PREFIX + digest.hexdigest()


def notify_column(name_column: str) -> tuple[str, list[str]]:
    """A column for the ``RETURNING`` clause of the version upsert, and its
    parameters: one NOTIFY per namespace row written, on its :func:`pg_channel`."""
    from django_durabledict.models import DurableSetting

    sql = f"pg_notify(%s::text || md5(%s::text || {name_column}), '')"
    return sql, [CHANNEL_PREFIX, DurableSetting._meta.db_table + ":"]


def _connection_params(using: str) -> dict[str, Any]:
    from django.db import connections

    params = connections[using].get_connection_params()
    # Keep libpq's own parameters; drop what Django adds for its cursors.
    return {
        key: value
        for key, value in params.items()
        if isinstance(value, (str, int, float)) and key != "prepare_threshold"
    }


class PgListener(Listener):
    kind = "postgresql"

    def __init__(self, key: Any, params: dict[str, Any]) -> None:
        where = f"{params.get('host') or 'local'}:{params.get('port') or 5432}"
        super().__init__(key, f"PostgreSQL {where}/{params.get('dbname')}")
        self._params = params

    def session(self) -> None:
        import psycopg

        params = {
            "connect_timeout": 2,
            "application_name": APPLICATION_NAME,
            **self._params,
        }
        with psycopg.connect(**params, autocommit=True) as connection:
            self.heard()
            listening: set[str] = set()
            pinged = time.monotonic()
            while not self.should_stop():
                self.pulse()
                wanted = self.wanted()
                if not wanted:
                    return
                for channel in sorted(wanted - listening):
                    connection.execute(f'LISTEN "{channel}"')
                    listening.add(channel)
                    self.confirm(channel)
                for channel in sorted(listening - wanted):
                    connection.execute(f'UNLISTEN "{channel}"')
                    listening.discard(channel)
                for notify in connection.notifies(timeout=0.2):
                    self.deliver(notify.channel)
                    self.pulse()
                if time.monotonic() - pinged >= self.ping_every:
                    connection.execute("SELECT 1")
                    pinged = time.monotonic()
                    self.heard()


def attach_pg(state: PushState, using: str, channel: str) -> PgListener:
    """Listen for *channel* with this process's listener for *using*'s database."""
    from django.db import connections

    settings = connections[using].settings_dict
    parts = ("HOST", "PORT", "NAME", "USER")
    key = ("postgresql", *(settings.get(part) for part in parts))
    return attach(
        state, key, channel, lambda: PgListener(key, _connection_params(using))
    )
