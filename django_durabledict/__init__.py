"""django-durabledict: live settings and feature values for Django.

Dicts backed by a durable store (the database, Redis, ZooKeeper) that keep an
in-process copy and reload it only when a cheap version check says the store
changed.

Importing this package imports neither Django's ORM nor any store client: the names
below are loaded on first use.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "Changeset": "django_durabledict.changeset",
    "ChangesetConflict": "django_durabledict.changeset",
    "DurableDict": "django_durabledict.base",
    "MemoryDict": "django_durabledict.backends.memory",
    "ModelDict": "django_durabledict.backends.model",
    "RedisDict": "django_durabledict.backends.redis",
    "ZookeeperDict": "django_durabledict.backends.zookeeper",
    "dicts": "django_durabledict.registry",
    "durabledict": "django_durabledict.registry",
}

__all__ = [*_LAZY, "__version__"]


def __getattr__(name: str) -> Any:
    try:
        module = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    value = getattr(import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])
