"""The version a dict's *store* holds now, next to the one this process loaded.

For the status command, the admin's status page and nothing on a request's path:
each lookup is one read of the store (or none), and never writes (a missing token
is reported as missing, not seeded).

* ``ModelDict`` on ``DurableSetting``: the namespace's authoritative version in
  the database and its ``updated`` time, so the age of the last change is known;
  this process's side is the database version its snapshot was loaded at.
* ``ModelDict`` on another model: the token in its cache; age unknown.
* ``RedisDict``: the counter (one ``GET``); age unknown, Redis keeps no time.
* ``ZookeeperDict`` and other backends: ``last_updated()``; for ZooKeeper that is
  the zxid its watches reported, read from memory; age unknown.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from django_durabledict.status import json_safe


@dataclass(frozen=True)
class StoreVersion:
    """``version``: what the store holds now (JSON-ready); ``snapshot``: this
    process's snapshot in the same terms; ``changed_at``: Unix time of the last
    change, ``None`` when the store cannot tell; ``error``: why the store could
    not be read (the other fields are then ``None``)."""

    version: Any = None
    snapshot: Any = None
    changed_at: float | None = None
    error: str | None = None

    @property
    def age(self) -> float | None:
        """Seconds since the last change, when the store can tell."""
        return None if self.changed_at is None else time.time() - self.changed_at

    @property
    def in_sync(self) -> bool | None:
        """Whether this process's snapshot is at the store's version (``None``:
        unknown)."""
        if self.error is not None or self.version is None:
            return None
        return self.version == self.snapshot

    def as_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "snapshot": self.snapshot,
            "changed_at": self.changed_at,
            "age": self.age,
            "in_sync": self.in_sync,
            "error": self.error,
        }


def store_version(durable: Any) -> StoreVersion:
    """Read the store's current version of *durable*; a failure is reported in
    ``error``, never raised."""
    try:
        return _read(durable)
    except Exception as exc:
        return StoreVersion(error=f"{type(exc).__name__}: {exc}")


def _read(durable: Any) -> StoreVersion:
    if getattr(durable, "versioned", False):  # ModelDict on DurableSetting
        return _namespace_version(durable)
    token = getattr(durable, "token", None)
    if token is not None and hasattr(token, "read"):  # ModelDict, own model
        return _known(token.read(), durable.last_synced)
    counter = getattr(durable, "counter_key", None)
    if counter is not None:  # RedisDict: GET, not last_updated(), which may seed
        value = durable.connection.get(counter)
        value = value.decode() if isinstance(value, bytes) else value
        return _known(value, durable.last_synced)
    return _known(json_safe(durable.last_updated()), durable.last_synced)


def _known(version: Any, snapshot: Any) -> StoreVersion:
    return StoreVersion(version=json_safe(version), snapshot=json_safe(snapshot))


def _namespace_version(durable: Any) -> StoreVersion:
    row = durable._versions().values_list("version", "updated").first()
    snapshot = durable.watch.loaded_version
    if row is None:  # nothing ever written to this namespace
        return StoreVersion(snapshot=snapshot)
    version, updated = row
    return StoreVersion(
        version=version, snapshot=snapshot, changed_at=updated.timestamp()
    )
