"""Small DurableDict backends for the integration tests (registry, middleware,
checks, admin), standing in for real stores where the store is not under test."""

from __future__ import annotations

import threading
from typing import Any

from django_durabledict.backends.memory import MemoryDict, MemoryStore
from django_durabledict.encoding import JSONEncoding

#: One store per DURABLEDICTS name: a test writes through a second dict on the
#: same store, standing in for another process.
STORES: dict[str, MemoryStore] = {}

MEMORY = "tests.dictbackends.SharedMemoryDict"


def store_for(name: str) -> MemoryStore:
    return STORES.setdefault(name, MemoryStore())


def reset_stores() -> None:
    STORES.clear()


def other_process(name: str) -> MemoryDict:
    """A second dict on the store of ``dicts[name]``: "another process"."""
    return MemoryDict(store=store_for(name), encoding=JSONEncoding)


class SharedMemoryDict(MemoryDict):
    """A MemoryDict built from DURABLEDICTS on the store shared by its name; counts
    token reads, and records the thread each sync ran in."""

    instances_built = 0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.token_reads = 0
        self.sync_threads: list[int] = []
        self.closed = False
        super().__init__(*args, **kwargs)

    @classmethod
    def from_config(cls, name: str, config: Any) -> SharedMemoryDict:
        SharedMemoryDict.instances_built += 1
        return cls(store=store_for(name), **cls.common_kwargs(name, config))

    def last_updated(self) -> int:
        self.token_reads += 1
        return super().last_updated()

    def sync(self) -> None:
        self.sync_threads.append(threading.get_ident())
        super().sync()

    def close(self) -> None:
        self.closed = True


class NeedsLocationDict(SharedMemoryDict):
    """A backend with its own required entry key, like RedisDict's LOCATION."""

    config_keys = frozenset({"LOCATION", "CACHE"})

    @classmethod
    def check_config(cls, name: str, config: Any) -> list[str]:
        if not config.get("LOCATION"):
            return ["NeedsLocationDict needs LOCATION."]
        return []


class BrokenSyncDict(SharedMemoryDict):
    """Its sync fails with an unexpected error once ``broken`` is set."""

    broken = False

    def sync(self) -> None:
        if self.broken:
            raise RuntimeError("broken on purpose")
        super().sync()


def memory_entry(**extra: Any) -> dict[str, Any]:
    return {"BACKEND": MEMORY, **extra}


def require_module(name: str) -> Any:
    """Import *name*; skip without it, except in CI (DURABLEDICT_REQUIRE_SERVICES=1)
    where a missing test dependency must fail the run."""
    import importlib
    import os

    import pytest

    if os.environ.get("DURABLEDICT_REQUIRE_SERVICES") == "1":
        return importlib.import_module(name)
    return pytest.importorskip(name)
