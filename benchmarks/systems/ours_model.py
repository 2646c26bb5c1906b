"""This project's ModelDict: SQLite and PostgreSQL, each with a locmem, memcached
and Redis token cache. See ours.py for how our systems are configured."""

from __future__ import annotations

import json
from typing import Any

from benchmarks.systems.base import key_name
from benchmarks.systems.ours import ALIAS, BATCH, Ours


class OursModel(Ours):
    """ModelDict on DurableSetting rows, namespace "bench", token in a cache."""

    name = "ours-model-sqlite-locmem"
    label = "django-durabledict ModelDict (SQLite, locmem)"
    modules = ("django_durabledict.backends.model", "django_durabledict.middleware")
    database = "sqlite"
    cache = "locmem"
    # A locmem token is seen by this process only: the writer is a second dict
    # here (other processes see changes at their backstop check, <= 30 s).
    cross_process = False
    expected_counts = {"queries": 0, "network": 0}

    def entry(self) -> dict[str, Any]:
        return {"BACKEND": "django_durabledict.backends.model.ModelDict"}

    def populate(self, size: int) -> None:
        from django_durabledict.models import DurableSetting

        rows = DurableSetting.objects.filter(namespace=ALIAS)
        rows.delete()
        DurableSetting.objects.bulk_create(
            [
                DurableSetting(namespace=ALIAS, key=key_name(i), value=json.dumps(i))
                for i in range(size)
            ],
            batch_size=BATCH,
        )


def _model_system(database: str, cache: str) -> type[OursModel]:
    """The ModelDict system on *database* with its token in *cache*."""
    names = {"sqlite": "SQLite", "postgresql": "PostgreSQL", "locmem": "locmem"}
    names |= {"memcached": "memcached", "redis": "Redis cache"}
    short = {"sqlite": "sqlite", "postgresql": "pg"}[database]
    counts = {"queries": 0, "network": 0 if cache == "locmem" else 1}
    # After a change: the token read, then one query for the rows and version.
    changed = {"queries": 1}
    if cache != "locmem":
        counts[cache] = changed[cache] = 1
    attributes = {
        "name": f"ours-model-{short}-{cache}",
        "label": f"django-durabledict ModelDict ({names[database]}, {names[cache]})",
        "database": database,
        "cache": cache,
        "services": tuple(
            s for s in (database, cache) if s not in ("sqlite", "locmem")
        ),
        "cross_process": cache != "locmem",
        "expected_counts": counts,
        "expected_change_counts": changed,
    }
    return type(f"OursModel_{short}_{cache}", (OursModel,), attributes)


MODEL_SYSTEMS = [
    _model_system(database, cache)
    for database in ("sqlite", "postgresql")
    for cache in ("locmem", "memcached", "redis")
]


def _push_system(base: type[OursModel]) -> type[OursModel]:
    """*base* with PUSH: a Redis cache's pub/sub, or PostgreSQL LISTEN/NOTIFY."""
    from benchmarks.systems.ours import wait_for_push

    channel = "Redis pub/sub" if base.cache == "redis" else "LISTEN/NOTIFY"
    attributes = {
        "name": base.name + "-push",
        "label": base.label[:-1] + f", PUSH over {channel})",
        "hook_text": "DurableDictSyncMiddleware, PUSH",
        "expected_counts": {"queries": 0, "network": 0},
        # With NOTIFY the next sync checks the database's version first.
        "expected_change_counts": (
            base.expected_change_counts
            if base.cache == "redis"
            else {**base.expected_change_counts, "queries": 2}
        ),
        "entry": lambda self: {**base.entry(self), "PUSH": True},
        "open": lambda self: wait_for_push(base.open(self)),
    }
    return type(base.__name__ + "_push", (base,), attributes)


PUSH_SYSTEMS = [
    _push_system(system)
    for system in MODEL_SYSTEMS
    if system.database == "postgresql" and system.cache in ("redis", "memcached")
]
