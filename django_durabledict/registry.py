"""``dicts``: the configured dicts by name, like ``django.core.cache.caches``.

``dicts["features"]`` builds the dict on first use from ``DURABLEDICTS["features"]``
and returns the same instance afterwards. Nothing is built or connected at import,
so a pre-fork server (gunicorn ``--preload``, Celery's prefork pool) that imports
the project before forking still gets one dict, and one connection, per worker.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator, MutableMapping
from typing import Any

from django.core.signals import setting_changed
from django.dispatch import receiver

from django_durabledict.base import DurableDict
from django_durabledict.conf import (
    DurableDictConfigError,
    DurableDictDoesNotExist,
    app_settings,
)

__all__ = [
    "DictRegistry",
    "DurableDictConfigError",
    "DurableDictDoesNotExist",
    "dicts",
    "durabledict",
]

logger = logging.getLogger("django_durabledict")


class DictRegistry(dict):
    """The configured dicts, built on first use, one instance per process.

    Unlike ``caches`` (one instance per thread), each name has one instance per
    process, shared by every thread: a dict is an in-process mirror of its store,
    and per-thread copies would multiply the reloads, the memory and the ZooKeeper
    sessions (and their watches) by the number of threads. DurableDict is
    thread-safe for this.

    It subclasses ``dict`` so that ``dicts["features"]`` is a plain C dict lookup
    once built (``__missing__`` runs only on the first lookup of a name): that
    lookup sits on every read path, and a Python ``__getitem__`` would cost more
    than the dict read itself. The mapping is read-only to users; iteration,
    ``in`` and ``len`` describe the *configured* names, built or not.
    """

    def __init__(self) -> None:
        super().__init__()
        self._reset_locks()

    def _reset_locks(self) -> None:
        self._lock = threading.Lock()  # guards the mapping and _building
        self._building: dict[str, threading.Lock] = {}

    # -- Lookup -------------------------------------------------------------

    def __missing__(self, name: str) -> DurableDict:
        app_settings.entry(name)  # an unknown name raises before any lock is made
        # One lock per name: a store that is slow to connect delays only the
        # first users of that dict, not the first use of every other one.
        with self._lock:
            building = self._building.setdefault(name, threading.Lock())
        with building:
            # Another thread may have built it while this one waited for the lock.
            instance = dict.get(self, name)
            if instance is None:
                instance = self._create(name)
                with self._lock:
                    dict.__setitem__(self, name, instance)
            return instance

    @staticmethod
    def _create(name: str) -> DurableDict:
        config = app_settings.config(name)
        backend = config["BACKEND"]
        if not (isinstance(backend, type) and issubclass(backend, DurableDict)):
            raise DurableDictConfigError(
                f"DURABLEDICTS[{name!r}]['BACKEND'] is {backend!r}, which is not a "
                "DurableDict subclass."
            )
        return backend.from_config(name, config)

    def get(self, name: str, default: Any = None) -> Any:  # type: ignore[override]
        """The dict called *name*, or *default* when no such dict is configured."""
        if name not in self:
            return default
        return self[name]

    def __contains__(self, name: object) -> bool:
        return name in app_settings.dicts

    def __iter__(self) -> Iterator[str]:
        return iter(app_settings.names())

    def __len__(self) -> int:
        return len(app_settings.names())

    def keys(self) -> list[str]:  # type: ignore[override]
        """The configured names."""
        return app_settings.names()

    def items(self) -> list[tuple[str, DurableDict]]:  # type: ignore[override]
        """``(name, dict)`` for every configured dict, building those not built."""
        return [(name, self[name]) for name in self]

    def values(self) -> list[DurableDict]:  # type: ignore[override]
        return self.all()

    # -- Registry operations ------------------------------------------------

    def all(self, initialized_only: bool = False) -> list[DurableDict]:
        """Every configured dict (building them), or only those already built."""
        if initialized_only:
            with self._lock:
                return list(dict.values(self))
        return [self[name] for name in self]

    def sync_all(self) -> None:
        """Sync every built dict whose ``autosync`` is off.

        What the middleware does once per request; call it where no request runs
        (a Celery task, a long-running management command). Dicts with autosync on
        check the store on every read, and dicts not built yet load fresh when first
        used, so neither needs it. One dict failing does not stop the others."""
        for instance in self.all(initialized_only=True):
            if instance.autosync:
                continue
            try:
                instance.sync()
            except Exception:
                logger.exception("%s: sync failed", instance)

    def close_all(self) -> None:
        """Close every built dict and forget it; the next lookup builds a new one.

        For shutdown and tests. Not for ``request_finished``: rebuilding a dict
        reloads it from its store."""
        with self._lock:
            instances = list(dict.values(self))
            dict.clear(self)
        for instance in instances:
            try:
                instance.close()
            except Exception:
                logger.exception("%s: close failed", instance)

    def _after_fork_in_child(self) -> None:
        # A forked child must not reuse the parent's connections (a Redis socket, a
        # kazoo session whose threads did not survive the fork), nor a lock another
        # thread may have held at fork time. Forget, but do not close: closing would
        # shut down sockets the parent still uses.
        self._reset_locks()
        dict.clear(self)

    # -- Read-only to users -------------------------------------------------

    def _read_only(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError(
            "dicts is read-only: dicts are configured in settings.DURABLEDICTS "
            "(use override_settings or override_durabledict in tests)."
        )

    __setitem__ = __delitem__ = __ior__ = _read_only
    pop = popitem = clear = update = setdefault = _read_only  # type: ignore[assignment]

    def copy(self) -> dict[str, DurableDict]:
        """A plain dict of the dicts already built."""
        return dict(dict.items(self))

    def __eq__(self, other: object) -> bool:
        return self is other

    __hash__ = object.__hash__  # type: ignore[assignment]

    def __reduce_ex__(self, protocol: Any) -> Any:
        raise TypeError("the dicts registry cannot be copied or pickled")

    def __repr__(self) -> str:
        built = list(dict.keys(self))
        return f"<DictRegistry configured={self.keys()!r} built={built!r}>"


dicts = DictRegistry()

if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=dicts._after_fork_in_child)


@receiver(setting_changed)
def reset_dicts(*, setting: str, **kwargs: Any) -> None:
    # A dict built from the old settings (or holding an old cache object) must not
    # outlive them: override_settings(DURABLEDICTS=...) gets fresh dicts.
    if setting in ("DURABLEDICTS", "CACHES"):
        dicts.close_all()


class DefaultDictProxy:
    """``durabledict``: the dict named ``default``, looked up on every use.

    Like ``django.db.connection``: attributes and item access are forwarded to
    ``dicts["default"]``, so the proxy follows ``override_settings`` and forks."""

    def __getattr__(self, item: str) -> Any:
        return getattr(dicts["default"], item)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(dicts["default"], name, value)

    def __delattr__(self, name: str) -> None:
        delattr(dicts["default"], name)

    def __getitem__(self, key: Any) -> Any:
        return dicts["default"][key]

    def __setitem__(self, key: Any, value: Any) -> None:
        dicts["default"][key] = value

    def __delitem__(self, key: Any) -> None:
        del dicts["default"][key]

    def __contains__(self, key: object) -> bool:
        return key in dicts["default"]

    def __iter__(self) -> Iterator[Any]:
        return iter(dicts["default"])

    def __len__(self) -> int:
        return len(dicts["default"])

    def __eq__(self, other: object) -> bool:
        return dicts["default"] == other

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return repr(dicts["default"])


MutableMapping.register(DefaultDictProxy)

durabledict = DefaultDictProxy()
