"""ZookeeperDict: a DurableDict kept in ZooKeeper, one child znode per key.

Store layout, as in the original durabledict: the root znode (the *keyspace*) has
one child per key, named after the key, whose data is the encoded value as bytes
(JSON text as UTF-8, a base64 pickle as ASCII). Old and new code can share a store
that uses the same encoding.

How a read stays free of network I/O. Every load reads the root's children with a
children watch and every child with a data watch (or, when the root is missing,
sets an exists watch on it), so any later change to the store fires one of them.
Each firing, and each connection loss (kazoo drops all watches with the
connection), bumps a local *generation*. ``last_updated()`` returns
``ZookeeperToken(zxid, generation)`` from memory:

* ``generation`` makes the token change as soon as a watch fires, so the next sync
  reloads. It is read *before* a load (rule 1 in base.py), and read again once
  kazoo has run the watch callbacks received during the load: if a watch fired,
  the load reads the store again (up to ``CONSISTENT_READ_ATTEMPTS`` times), so a
  load shows the store as of one moment, and a multi-op transaction (a
  ``durabledict_load``) whole or not at all. See ``_consistent_items``.
* ``zxid`` is the newest ZooKeeper transaction id the last load saw: the largest of
  the root's ``czxid`` and ``pzxid`` (the last child created or deleted, and the
  root's own re-creation) and every child's ``mzxid`` (the last value written).
  zxids are assigned by the ensemble's leader and only grow, so they mean the same
  in every process: two workers that loaded the same state report the same zxid,
  and the one with the smaller zxid is behind.

Incremental sync. Each watch event also records *what* changed: a data watch the
key it names, the root's children watch "the listing". A sync after a few
changes reads just those keys again (and, for the listing, the root's children,
reading each new child and dropping each one gone), re-arming their watches,
with the same re-read-while-a-watch-fires rule as a full load, so the snapshot is
still the store as of one moment: a key whose watch has not fired has not
changed since it was read. A connection loss, or a change to the root itself,
means a full reload.

A write's own view. A write waits for its own watch events (``_write``), then
loads the changes recorded (its own key and any other process's), so the
writer shows a state the store held, never its write on an older snapshot.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from django_durabledict.backends import zookeeper_bulk as bulk
from django_durabledict.backends import zookeeper_ops as ops
from django_durabledict.backends.znode import to_bytes, validate_name, validate_path
from django_durabledict.backends.zookeeper_client import (
    ClientLink,
    ZookeeperUnavailable,
    config_problems,
    kazoo,
    make_client,
)
from django_durabledict.base import _MISSING, DurableDict
from django_durabledict.encoding import DefaultEncoding

if TYPE_CHECKING:  # kazoo is imported only when a dict is built
    from kazoo.client import KazooClient
    from kazoo.security import ACL

__all__ = ["ZookeeperDict", "ZookeeperToken", "ZookeeperUnavailable"]

logger = logging.getLogger("django_durabledict")

#: Reads of the whole dict in a row before a read that keeps meeting writes
#: backs off between reads (see ``ZookeeperDict._consistent_items``).
CONSISTENT_READ_ATTEMPTS = 5
#: Reads of the changed keys before an incremental sync that keeps meeting
#: writes gives up for now (each reads only what changed during the last).
INCREMENTAL_READ_ATTEMPTS = 20


class ZookeeperToken(NamedTuple):
    """The token of a :class:`ZookeeperDict`: compare ``zxid`` across processes;
    ``generation`` is local to this process."""

    zxid: int
    generation: int


class ZookeeperDict(DurableDict):
    """A dict kept under the znode *keyspace*, through the kazoo client *connection*.

    ``connection`` is started if it is not; a dict never stops a client it was
    given. Reads cost no network I/O; the first sync after a change reloads the
    keyspace (one round trip for the children, one for all values). Writes are
    single atomic operations: a new key is created with its value, an existing
    one is set, ``pop`` deletes exactly the version it read, ``setdefault``
    creates or reads. Keys must be valid znode names (``ValueError`` otherwise).

    ``acl``: a list of ``kazoo.security.ACL`` for the znodes this dict creates;
    ``None`` uses the client's ``default_acl``, which in kazoo is world-writable.
    ``operation_timeout``: see the attribute of that name.

    Consistency caveats: another client's change is seen once its watch event
    arrives (milliseconds), not at the instant its write returns. While the client
    is disconnected, reads serve the snapshot and ``stale_since`` says since when;
    writes wait up to ``operation_timeout`` for a reconnection, then raise. A write
    whose connection dropped may or may not have been applied (ZooKeeper cannot
    tell); kazoo's retry repeats it, which is harmless for set and setdefault.
    """

    #: Seconds a write (and the constructor) waits for a connection, and any call
    #: waits for its reply.
    operation_timeout: float = 10.0
    config_keys = frozenset({"HOSTS", "PATH", "CLIENT_OPTIONS"})

    def __init__(
        self,
        keyspace: str,
        connection: KazooClient,
        autosync: bool = True,
        encoding: Any = DefaultEncoding,
        old_encoding: Any = None,
        *,
        acl: Sequence[ACL] | None = None,
        operation_timeout: float | None = None,
        defaults: Mapping[Any, Any] | None = None,
        name: str | None = None,
    ) -> None:
        self.unavailable_errors = (
            *DurableDict.unavailable_errors,
            *kazoo().unavailable_errors,
        )
        self.keyspace = validate_path(keyspace)
        self.connection = connection
        self.acl = list(acl) if acl is not None else None
        if operation_timeout is not None:
            self.operation_timeout = operation_timeout
        self._owns_client = self._ready = False
        self._zxid = self._generation = 0
        self._generation_lock = threading.Lock()
        # What watch events said changed since the last load took them (guarded
        # by _generation_lock); None: unknown, reload everything.
        self._dirty: set[str] | None = None
        self._dirty_listing = False
        self._names: set[str] = set()  # the root's children, as of the snapshot
        self._link = ClientLink(
            connection, self.operation_timeout, self._connected, self._disconnected
        )
        self._link.open()
        try:
            super().__init__(
                autosync, encoding, old_encoding, defaults=defaults, name=name
            )
        except BaseException:  # e.g. NoAuthError: no permission to read the root
            self._link.close(stop_client=False)
            raise
        self._ready = True
        if connection.connected and self.last_synced is None:
            self._link.spawn(self._resync)  # connected after the first load failed

    # -- The backend contract ---------------------------------------------------

    def persist(self, key: Any, value: Any) -> None:
        path = self._path(key)
        data = to_bytes(self._encode(value), path)
        self._write(ops.put, path, data, self.acl, key in self._stored)

    def depersist(self, key: Any) -> None:
        path = self._path(key)
        try:
            self._write(ops.delete, path)
        except kazoo().exceptions.NoNodeError:
            self._take_report()
            raise KeyError(key) from None

    def durables(self) -> dict[str, Any]:
        return self._read()[2]

    def last_updated(self) -> ZookeeperToken:
        """From memory, no network I/O. Raises ``ZookeeperUnavailable`` while the
        client is disconnected, so reads serve the snapshot and set
        ``stale_since``."""
        if not self.connection.connected:
            raise ZookeeperUnavailable(f"{self}: not connected to ZooKeeper")
        return ZookeeperToken(self._zxid, self._generation)

    def _load(self, token: Any) -> tuple[ZookeeperToken, dict[str, Any]]:
        # The generation is read before the reads (see the module docstring), and
        # the reads are repeated while a watch fires during them.
        generation, zxid, items = self._consistent_items(take=True)
        self._zxid = zxid
        return ZookeeperToken(zxid, generation), self._decode_items(items)

    def _load_changes(self, since: Any) -> tuple[ZookeeperToken, dict] | None:
        """Read again just what the watches said changed; ``None`` (reload
        everything) after a connection loss or a change to the root."""
        changes: dict[str, Any] = {}
        newest = self._zxid
        for _attempt in range(INCREMENTAL_READ_ATTEMPTS):
            with self._generation_lock:
                generation, names, listing = self._take_dirty()
            if names is None:
                return None
            try:
                zxid = self._read_changed(names, listing, changes)
            except BaseException:
                self._changed()  # what was taken is lost: reload everything
                raise
            if zxid is None:
                return None  # the root is gone
            newest = max(newest, zxid)
            self._link.flush_events()
            if self._generation == generation:
                self._zxid = newest
                return ZookeeperToken(newest, generation), changes
        # It kept changing while read: these changes may hold half of a
        # multi-op, so publish nothing of them. A full load retries until it
        # reads one moment of the store (see _consistent_items).
        self._changed()
        return None

    def _take_dirty(self) -> tuple[int, set[str] | None, bool]:
        """The generation, and what changed since the last take; call with
        ``_generation_lock`` held."""
        taken = self._generation, self._dirty, self._dirty_listing
        self._dirty, self._dirty_listing = set(), False
        return taken

    def _read_changed(self, names: set[str], listing: bool, changes: dict) -> Any:
        """Read *names* (and the listing) into *changes*; the newest zxid seen,
        or ``None`` when the root is gone."""
        known = set(self._names) if listing else None
        try:
            children, zxid, items, unreadable = self._retry(
                ops.read_changed, self.keyspace, self._changed, names, known
            )
        except kazoo().exceptions.NoNodeError:
            return None
        if children is not None:
            self._names = set(children)
            for name in known - self._names:
                changes[name] = _MISSING
        for name in unreadable:
            logger.error("%s: no permission to read key %r; left out", self, name)
        # The reads say what exists now. A child listed but gone when read must
        # leave the names too, or a later listing that shows it re-created would
        # not count it as new, and never read it.
        for name, data in items:
            if data is not None:
                self._names.add(name)
            elif name not in unreadable:
                self._names.discard(name)
        changes.update(self._decode_changes(items))
        return zxid

    def _pop(self, key: Any, default: Any) -> Any:
        path = self._path(key)
        data = self._write(ops.take, path, [])
        return default if data is ops.ABSENT else self._decode(data)

    def _setdefault(self, key: Any, default: Any) -> Any:
        path = self._path(key)
        data = to_bytes(self._encode(default), path)
        exists = key in self._stored
        return self._decode(
            self._write(ops.create_or_get, path, data, self.acl, exists)
        )

    # -- Plumbing -------------------------------------------------------------------

    def _path(self, key: Any) -> str:
        return f"{self.keyspace}/{validate_name(key)}"

    def _retry(self, func: Any, *args: Any) -> Any:
        """Every ZooKeeper call goes through the client's retry policy."""
        return self.connection.retry(func, self._link, *args)

    def _write(self, func: Any, path: Any, *args: Any) -> Any:
        """Run a write, then wait until its watch events have run here, so every
        dict sharing this client sees the write on its next sync. The base class
        is told to load what changed (``_wrote``): the keys written (marked here
        too, so a new key is read in the same round trip as the listing), and
        any other process's change whose event arrived first."""
        result = self._retry(func, path, *args)
        self._link.flush_events()
        with self._generation_lock:
            current = ZookeeperToken(self._zxid, self._generation)
            if self._dirty is not None and not (self._dirty or self._dirty_listing):
                # No watch fired: the write changed nothing (setdefault of a key
                # that exists), nor did anyone else. Patching shows the store.
                self._wrote(current, current)
                return result
            if self._dirty is not None:
                if path == self.keyspace:  # a bulk write: data, removals
                    self._dirty.update([*args[0], *args[1]])
                else:
                    self._dirty.add(path.rsplit("/", 1)[1])
        self._wrote(None, None)
        return result

    def _read(self) -> tuple[int, int, dict[str, Any]]:
        """``(generation, zxid, values)``: the store as of one moment."""
        generation, zxid, items = self._consistent_items()
        return generation, zxid, self._decode_items(items)

    def _changed(self, event: Any = None) -> None:
        """A watch fired, or the connection dropped: the next sync reloads what
        the event names (everything, for a connection loss or the root)."""
        with self._generation_lock:
            self._generation += 1
            if self._dirty is None:
                return
            path = getattr(event, "path", None)
            if path is None or not path.startswith(self.keyspace + "/"):
                if path == self.keyspace and event.type == "CHILD":
                    self._dirty_listing = True
                else:
                    self._dirty = None  # a connection loss, the root itself
                return
            self._dirty.add(path[len(self.keyspace) + 1 :])

    def _connected(self) -> None:
        # On kazoo's connection thread: spawn, never call ZooKeeper from here.
        if self._ready:
            self._link.spawn(self._resync)

    def _disconnected(self, state: str) -> None:
        # SUSPENDED or LOST. kazoo drops every watch with the connection, so nothing
        # would report changes made meanwhile: move the generation to force a
        # reload, which re-arms them, on the next sync after reconnecting.
        self._changed()
        if self._ready:
            self._mark_unavailable(kazoo().exceptions.ConnectionLoss(state.lower()))

    def _resync(self) -> None:
        """After (re)connecting: reload now, re-arming every watch, so changes made
        during the outage (or a lost session) show without waiting for a read.
        A dict without autosync keeps its snapshot until its owner syncs."""
        try:
            if self.autosync or self.last_synced is None:
                self._retry_now()
                self.sync()
            else:
                self._mark_available()
        except Exception:
            logger.exception("%s: reloading after a reconnection failed", self)

    # -- Building from a DURABLEDICTS entry, and closing ----------------------------

    @classmethod
    def from_config(cls, name: str, config: Mapping[str, Any]) -> ZookeeperDict:
        """A dict on PATH (default ``/durabledict/<name>``) with its own client for
        HOSTS, CLIENT_OPTIONS merged over the recommended options."""
        client = make_client(config["HOSTS"], config.get("CLIENT_OPTIONS"))
        path = config.get("PATH") or f"/durabledict/{name}"
        try:
            instance = cls(path, client, **cls.common_kwargs(name, config))
        except BaseException:
            client.stop()
            client.close()
            raise
        instance._owns_client = True
        return instance

    @classmethod
    def check_config(cls, name: str, config: Mapping[str, Any]) -> list[str]:
        return config_problems(name, config)

    def close(self) -> None:
        """Stop listening to the client, and stop the client if this dict built it."""
        self._ready = False
        self._link.close(stop_client=self._owns_client)

    # -- Bulk hooks of durabledict_dump / durabledict_load ---------------------------

    def _raw_snapshot(self) -> dict[str, bytes]:
        """Every key with its znode data, as of one moment (see
        ``_consistent_items``); ``ZookeeperUnavailable`` if the dict kept changing."""
        return dict(self._consistent_items()[2])

    def _apply_encoded(
        self, encoded: Mapping[Any, Any], removals: Iterable[Any], expect: Any = None
    ) -> None:
        """As ``_apply``, with values already encoded (stored as given). With
        *expect* (a checked changeset) the multi-op also checks the version of
        every key read (see ``zookeeper_bulk.apply``)."""
        data = {key: to_bytes(value, self._path(key)) for key, value in encoded.items()}
        removals = [validate_name(key) for key in removals if key not in data]
        guard = None if expect is None else _Guard(self, expect)
        self._write(bulk.apply, self.keyspace, data, removals, self.acl, guard)
        # Shown here at once, as a single write is.
        self._patch_many(self._decode_items(data.items()), removals)

    def _check_apply(
        self, encoded: Mapping[Any, Any], removals: Iterable[Any]
    ) -> list[str]:
        """Keys, values and a transaction size ZooKeeper would refuse."""
        return bulk.problems(self.keyspace, encoded, list(removals))

    def _consistent_items(self, take: bool = False) -> tuple[int, int, list]:
        """``(generation, zxid, [(key, data)])``, read while no watch fired.

        ZooKeeper delivers the watch event of a change before any reply that shows
        the change. A write landing during a read therefore fires a watch this read
        armed (the root's children watch, set first, or the data watch of a key
        read before the write) before the read's last reply, unless it only
        touched keys read after it, in which case the read shows the store just
        after it. So once kazoo has run the callbacks received so far
        (``flush_events``), an unchanged generation means the items are the store
        as of one moment: a multi-op is seen whole or not at all.

        After ``CONSISTENT_READ_ATTEMPTS`` reads in a row that met a write, it
        backs off (randomly, up to 50 ms) and reads again, for up to
        ``operation_timeout`` seconds, then raises ``ZookeeperUnavailable`` (a sync
        keeps its snapshot). It never returns a read that met a write: that could
        hold half of a multi-op (a changeset), a state the store never held.

        With *take* (a load whose result is published), what the watches said
        changed is cleared first: this read re-arms every watch."""
        attempt, deadline = 0, None
        while True:
            with self._generation_lock:
                generation = self._generation
                if take:
                    self._take_dirty()
            try:
                zxid, items, unreadable = self._retry(
                    ops.read_all, self.keyspace, self._changed
                )
            except BaseException:
                self._changed()  # what was cleared is lost: reload everything
                raise
            self._link.flush_events()
            if self._generation == generation:
                break
            attempt += 1
            if attempt < CONSISTENT_READ_ATTEMPTS:
                continue
            now = time.monotonic()
            deadline = deadline or now + self.operation_timeout
            if now > deadline:
                raise ZookeeperUnavailable(
                    f"{self}: the dict kept changing while it was read"
                )
            time.sleep(random.uniform(0, min(0.05, 0.001 * 2**attempt)))
        for name in unreadable:
            logger.error("%s: no permission to read key %r; left out", self, name)
        if take:
            self._names = {name for name, _ in items} | set(unreadable)
        return generation, zxid, items


class _Guard:
    """A checked changeset's expectation, as ``zookeeper_bulk.apply`` needs it."""

    def __init__(self, durable: ZookeeperDict, expect: Any) -> None:
        self.durable, self.expect = durable, expect
        self.versions: dict[str, int] = {}

    def keys(self, existing: set[str]) -> list[str]:
        return [key for key in self.expect.keys_to_read(existing) if key in existing]

    def absent(self) -> list[str]:
        # A key that is not a valid znode name can never be stored.
        return [k for k, v in self.expect.values.items() if v is _MISSING and _valid(k)]

    def verify(self, current: dict[str, bytes]) -> None:
        from django_durabledict.changeset import ChangesetConflict

        values = self.durable._decode_items(current.items())
        conflicts = self.expect.conflicts(values)
        if conflicts:
            raise ChangesetConflict(self.durable, conflicts)


def _valid(key: Any) -> bool:
    try:
        validate_name(key)
    except (TypeError, ValueError):
        return False
    return True
