"""DurableDict: a dict whose contents live in a durable store.

Each instance keeps an in-process snapshot of the store and the *token* it was
loaded at. A sync reads the store's current token (one cheap call) and reloads the
whole snapshot only when the token differs. Reads with ``autosync`` off never touch
the store; with it on, each read costs one token read.

The rules that keep readers from going stale (see docs/consistency.rst):

1. The token is read *before* the values it is stored with. A change racing with a
   load can then only cause one extra reload later, never a missed one.
2. Tokens are compared with ``!=``, never ``>``: a store may reset its counter.
   ``None`` means "unknown" and always reloads.
3. A snapshot is never mutated once published: a reload or a local write builds a
   new dict and swaps the reference, so other threads read either the old or the
   new snapshot, never a half-built one.
4. One reload at a time per instance, under a lock, and the values are loaded while
   the lock is held; a slow reload therefore cannot publish values older than a
   snapshot published before it.
5. Incremental sync (optional, ``_load_changes``): a backend that can tell which
   keys changed since a token reads just those; the values of the other keys (the
   very objects) are kept. It answers ``None`` whenever it cannot be sure (a log
   that does not reach back, a counter reset), and the whole store is reloaded.
6. A writer's own view (optional, ``_wrote``): a backend whose write learns the
   token it replaced reports it; if that is the token this instance holds, the
   write is patched in locally and the new token adopted (the store held exactly
   that state); otherwise the changes are loaded first. Either way this instance
   shows a state the store really held.

This module knows nothing of Django and imports no store client.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, MutableMapping
from typing import TYPE_CHECKING, Any

from django_durabledict.encoding import (
    DecodingError,
    DefaultEncoding,
    EncoderError,
    EncodingError,
)
from django_durabledict.status import DictStatus

if TYPE_CHECKING:
    from django_durabledict.changeset import Changeset

logger = logging.getLogger("django_durabledict")

# "No default given": lets pop(key, None) and pop(key, 0) behave as on dict.
_MISSING: Any = object()

#: Called as ``listener(durable, event, details)`` when a dict reloads
#: (``"reloaded"``), loses its store (``"unavailable"``) or reaches it again
#: (``"recovered"``). This module knows nothing of Django: the app's ``ready()``
#: adds the listener that sends ``django_durabledict.signals``. A listener runs in
#: the thread that noticed (possibly a client library's own thread), so it must be
#: quick; an exception it raises is logged, never passed to the dict's caller.
listeners: list[Callable[[DurableDict, str, dict[str, Any]], None]] = []


class DurableDict(MutableMapping):
    """A ``dict`` kept in a durable store, with an in-process snapshot.

    Subclasses implement four methods: :meth:`persist`, :meth:`depersist`,
    :meth:`durables` and :meth:`last_updated`. They may also implement
    ``_pop(key, default)`` and ``_setdefault(key, default)`` when the store can do
    those atomically; otherwise the base class falls back on the four methods.

    Everything else behaves like ``dict``. Writes and deletes go to the store at
    once, whatever ``autosync`` says, and this instance sees them at once.
    """

    #: Exceptions meaning "the store cannot be reached right now". While they are
    #: raised, reads serve the last loaded snapshot. Backends add their client's.
    unavailable_errors: tuple[type[BaseException], ...] = (OSError,)
    #: Seconds to wait before trying a store that could not be reached again, so
    #: a dead server costs at most one timeout per interval, not one per read.
    retry_interval: float = 1.0
    #: Push invalidation (django_durabledict/push): an object whose
    #: ``should_poll()`` says whether a sync must read the token, or ``None`` to
    #: read it at every sync.
    _push: Any = None

    def __init__(
        self,
        autosync: bool = True,
        encoding: Any = DefaultEncoding,
        old_encoding: Any = None,
        *,
        defaults: Mapping[Any, Any] | None = None,
        name: str | None = None,
    ) -> None:
        self._lock = threading.RLock()  # held while a snapshot is built and swapped
        self._health_lock = threading.Lock()  # one log line per outage and recovery
        self._give_own_class()
        self._data: dict[Any, Any] = {}
        self.autosync = autosync
        self.encoding = encoding
        self.old_encoding = old_encoding
        self.name = name or type(self).__name__
        self.defaults = dict(defaults or {})
        self.last_synced: Any = None
        #: Wall-clock time the store became unreachable, or ``None`` when healthy.
        self.stale_since: float | None = None
        self._retry_at = 0.0
        self._init_status()
        self._writes = threading.local()  # each thread's last write report (_wrote)
        self._publish({}, None)
        self.sync()

    def _give_own_class(self) -> None:
        # A class of this instance's own (same name and module), so that reads can
        # be the snapshot's own C methods (see _bind_reads): d[k] then runs no
        # Python code at all. isinstance() is unaffected; type(d) is a subclass.
        cls = type(self)
        if "_own_class" not in cls.__dict__:
            namespace = {
                "_own_class": True,
                "__module__": cls.__module__,
                "__qualname__": cls.__qualname__,
            }
            self.__class__ = type(cls.__name__, (cls,), namespace)

    # -- The backend contract ---------------------------------------------------

    def persist(self, key: Any, value: Any) -> None:
        """Store *value* (as given; encode it with ``self._encode``) under *key*,
        and change the token, atomically where the store allows it."""
        raise NotImplementedError(f"{type(self).__name__} must implement persist()")

    def depersist(self, key: Any) -> None:
        """Delete *key* from the store and change the token."""
        raise NotImplementedError(f"{type(self).__name__} must implement depersist()")

    def durables(self) -> dict[Any, Any]:
        """Return every key in the store with its *decoded* value, as a new dict.

        Decode with ``self._decode_items`` so a value that cannot be decoded is
        reported and left out instead of breaking the whole load."""
        raise NotImplementedError(f"{type(self).__name__} must implement durables()")

    def last_updated(self) -> Any:
        """Return a token that changes whenever any key in the store changes.

        Must be cheap: it is read once per sync. Compared with ``!=`` only; return
        ``None`` when the token is unknown (evicted, not yet created) to force a
        reload."""
        raise NotImplementedError(
            f"{type(self).__name__} must implement last_updated()"
        )

    def _load(self, token: Any) -> tuple[Any, dict[Any, Any]]:
        """Return ``(token, values)`` for a reload; *token* was read just before.

        A backend that can read its token and values together in one round trip
        overrides this. The token returned must not be newer than the values."""
        return token, self.durables()

    def _load_changes(self, since: Any) -> tuple[Any, Mapping[Any, Any]] | None:
        """Return ``(token, changes)``: every key changed since the token *since*,
        mapped to its new *decoded* value, or to ``_MISSING`` when it was deleted
        (or cannot be decoded: decode with ``self._decode_changes``). The other
        keys must be exactly as they were at *since*, so that the snapshot held
        at *since*, patched with *changes*, is the store at *token*.

        Return ``None`` when the changes are not known (the default, and e.g. a
        change log that does not reach back to *since*, a counter that was reset):
        the whole store is then reloaded with ``_load``. Called with the lock held.
        """
        return None

    def _wrote(self, replaced: Any, token: Any) -> None:
        """Report, from a write, the token the write replaced and the one it set.

        Call it after the store acknowledged the change (from ``persist``,
        ``depersist``, ``_pop``, ``_setdefault``, ``_apply_encoded``, ``clear``);
        a write that changed nothing reports the current token as both. The base
        class then shows the write (``_patch``) only if *replaced* is the token
        this instance holds, adopting *token*; otherwise it loads the changes
        first, so this instance never shows a state the store did not hold. A
        backend that reports nothing keeps the old behaviour: the write is patched
        in and the next sync reloads. ``replaced=None`` means "unknown": load."""
        self._writes.report = (replaced, token)

    def _take_report(self) -> tuple[Any, Any] | None:
        report = getattr(self._writes, "report", None)
        self._writes.report = None
        return report

    def _decode_changes(self, items: Iterable[tuple[Any, Any]]) -> dict[Any, Any]:
        """Decode ``(key, stored)`` pairs for ``_load_changes``: a stored value
        of ``None`` (deleted) or one that cannot be decoded becomes ``_MISSING``
        (the latter logged, as in ``_decode_items``)."""
        items = list(items)
        decoded = self._decode_items(
            (key, stored) for key, stored in items if stored is not None
        )
        return {key: decoded.get(key, _MISSING) for key, _ in items}

    # -- Bulk hooks used by durabledict_dump and durabledict_load ----------------

    def _raw_snapshot(self) -> dict[Any, Any]:
        """Every key with its value *as stored* (still encoded), read as one
        consistent snapshot. Backends override this to avoid decoding: the default
        decodes and re-encodes, which unpickles pickled values."""
        return {key: self._encode(value) for key, value in self.durables().items()}

    def _apply(self, updates: Mapping[Any, Any], removals: Iterable[Any]) -> None:
        """Store every update and delete every removal with one token change, so
        other processes see the old or the new dict, never a mix. Every value is
        encoded before anything is written."""
        encoded = {key: self._encode(value) for key, value in updates.items()}
        self._apply_encoded(encoded, removals)

    def _apply_encoded(
        self, encoded: Mapping[Any, Any], removals: Iterable[Any], expect: Any = None
    ) -> None:
        """``_apply`` with values already encoded, stored exactly as given, and
        shown in this instance at once. Backends override this to make it atomic;
        the default writes key by key.

        *expect* (a ``changeset.Expectation``, from a checked changeset): raise
        ``ChangesetConflict`` and write nothing unless the store still holds what
        it lists. Backends compare inside their atomic change; the default
        compares after a sync, which is not atomic against other writers."""
        if expect is not None:
            from django_durabledict.changeset import ChangesetConflict

            self.sync()
            conflicts = expect.conflicts(self._stored)
            if conflicts:
                raise ChangesetConflict(self, conflicts)
        for key, stored in encoded.items():
            self[key] = self._decode(stored)
        for key in removals:
            self.pop(key, None)

    def changeset(self, check: bool = False) -> Changeset:
        """Edits of several keys applied as one change: see
        :class:`~django_durabledict.changeset.Changeset`. ``check=True`` refuses
        (``ChangesetConflict``) if a key it read changed before it applied."""
        from django_durabledict.changeset import Changeset

        return Changeset(self, check=check)

    # -- Building from a DURABLEDICTS entry ---------------------------------------

    #: Keys of a ``DURABLEDICTS`` entry this backend reads, besides the common ones
    #: (BACKEND, AUTOSYNC, ENCODING, OLD_ENCODING, DEFAULTS, OPTIONS).
    config_keys: frozenset[str] = frozenset()

    @classmethod
    def from_config(cls, name: str, config: Mapping[str, Any]) -> DurableDict:
        """Build the dict for ``DURABLEDICTS[name]``.

        *config* is the entry merged over the defaults, with ENCODING and
        OLD_ENCODING already imported. OPTIONS are passed as keyword arguments."""
        return cls(**cls.common_kwargs(name, config))

    @staticmethod
    def common_kwargs(name: str, config: Mapping[str, Any]) -> dict[str, Any]:
        """Constructor arguments every backend takes, from a DURABLEDICTS entry."""
        return {
            "autosync": config["AUTOSYNC"],
            "encoding": config["ENCODING"],
            "old_encoding": config.get("OLD_ENCODING"),
            "defaults": config.get("DEFAULTS"),
            "name": name,
            **config.get("OPTIONS", {}),
        }

    @classmethod
    def check_config(cls, name: str, config: Mapping[str, Any]) -> list[str]:
        """Return what is wrong with a DURABLEDICTS entry for this backend, one
        sentence per problem; the system checks turn them into errors."""
        return []

    def close(self) -> None:
        """Release connections this dict opened itself (never ones it was given)."""

    # -- Encoding helpers used by every backend ---------------------------------

    def _encode(self, value: Any) -> Any:
        """Encode *value* with this dict's encoding; any failure is EncodingError."""
        try:
            return self.encoding.encode(value)
        except EncodingError:
            raise
        except Exception as exc:
            raise EncodingError(f"{self.name}: cannot encode value: {exc}") from exc

    def _decode(self, stored: Any) -> Any:
        """Decode a stored value, falling back on ``old_encoding`` if set."""
        try:
            return self.encoding.decode(stored)
        except Exception as exc:
            if self.old_encoding is not None:
                try:
                    return self.old_encoding.decode(stored)
                except Exception:
                    pass
            if isinstance(exc, DecodingError):
                raise
            raise DecodingError(f"{self.name}: cannot decode value: {exc}") from exc

    def _decode_items(self, items: Iterable[tuple[Any, Any]]) -> dict[Any, Any]:
        """Decode ``(key, stored)`` pairs into a dict.

        A value that cannot be decoded is logged with this dict's name and its key
        and left out, so one bad value never hides all the others."""
        values, failed = {}, {}
        for key, stored in items:
            try:
                values[key] = self._decode(stored)
            except DecodingError as exc:
                failed[key] = str(exc)
                logger.error(
                    "%s: cannot decode the value of key %r: %s", self, key, exc
                )
        self._note_decoding(values, failed)
        return values

    def _roundtrip(self, key: Any, value: Any) -> Any:
        """Return *value* as a reload would return it; raise before any write if it
        cannot be encoded."""
        try:
            return self._decode(self._encode(value))
        except EncoderError as exc:
            raise type(exc)(f"{self.name}[{key!r}]: {exc}") from exc

    # -- Syncing ----------------------------------------------------------------

    def sync(self) -> None:
        """Reload from the store if its token changed since the last load.

        Costs one token read when nothing changed. Waits for a reload another
        thread has started, so a change acknowledged before the call is seen after
        it. Never raises because the store is unreachable: the last snapshot stays
        in use and the store is tried again after ``retry_interval`` seconds."""
        self._sync(wait=True)
        if self.stale_since is None:
            # Here, not in _sync: autosync reads run _sync and must stay free.
            self.synced_at = time.time()

    def _sync(self, wait: bool) -> None:
        if self.stale_since is not None:
            if time.monotonic() < self._retry_at:
                return
        elif self._push is not None and not self._push.should_poll():
            return  # push is healthy and nothing announced a change
        try:
            token = self.last_updated()
            if token is None or token != self.last_synced:
                self._reload(token, wait)
        except self.unavailable_errors as exc:
            self._mark_unavailable(exc)
            return
        if self.stale_since is not None:
            self._mark_available()

    def _reload(self, token: Any, wait: bool) -> None:
        # Autosync reads pass wait=False: when another thread is already reloading
        # they keep reading the current snapshot instead of queueing behind it.
        if not self._lock.acquire(blocking=wait):
            if self._push is not None:
                # The reload running now may predate the change that made this
                # sync poll: poll again next time.
                self._push.mark_dirty()
            return
        try:
            if token is not None and token == self.last_synced:
                return  # another thread loaded this token while we waited
            token, full = self._load_and_publish(token)
        finally:
            self._lock.release()
        self._emit("reloaded", token=token, full=full)  # outside the lock

    def _load_and_publish(self, token: Any) -> tuple[Any, bool]:
        """Load the changes since ``last_synced`` if the backend knows them, else
        the whole store, and publish the result. Called with the lock held.
        Returns the token published and whether the whole store was read."""
        changes = None
        if self.last_synced is not None:
            changes = self._load_changes(self.last_synced)
        if changes is None:
            self._load_errors = {}  # this load's decoding failures, see _decode_items
            try:
                token, stored = self._load(token)
                self._publish(dict(stored), token)
                self.decode_errors = self._load_errors
            finally:
                self._load_errors = None
            self._note_reload(full=True)
            return token, True
        token, changed = changes
        # Unchanged keys keep their decoded objects; changed ones are new.
        stored = {**self._stored, **changed}
        for key, value in changed.items():
            if value is _MISSING:
                del stored[key]
        self._publish(stored, token)
        self._note_reload(full=False)
        return token, False

    @property
    def autosync(self) -> bool:
        return self._autosync

    @autosync.setter
    def autosync(self, value: bool) -> None:
        self._autosync = value
        self._bind_reads()

    _READS = ("__getitem__", "get", "__contains__")

    def _reads_need_code(self) -> bool:
        """Whether a read must run Python code (a sync check) first."""
        return self._autosync

    def _bind_reads(self) -> None:
        # The hot path. With nothing to check before a read (autosync off, no
        # transaction view), this instance's class serves __getitem__, get and
        # __contains__ with the bound C methods of the current snapshot. Each
        # rebinding is one assignment, so a reader uses the old snapshot or the new
        # one, never a mix; the lock keeps a rebinding from undoing a concurrent
        # switch back to the Python methods below.
        with self._lock:
            cls = type(self)
            if self._reads_need_code():
                for name in self._READS:
                    if name in cls.__dict__:
                        delattr(cls, name)
                return
            data = self._data
            cls.__getitem__, cls.get, cls.__contains__ = (
                data.__getitem__,
                data.get,
                data.__contains__,
            )

    def _publish(self, stored: dict[Any, Any], token: Any) -> None:
        # Readers only ever look at self._data, which is replaced, never mutated.
        self._stored = stored
        self._data = {**self.defaults, **stored} if self.defaults else stored
        self.last_synced = token
        self._bind_reads()

    def _patch(self, key: Any, value: Any = _MISSING) -> None:
        """Show this instance's own write at once. Without a report from the
        backend (``_wrote``) the token it was loaded at is kept: the store's token
        has moved on, so the next sync reloads anyway."""
        self._show_write({key: value}, ())

    def _patch_many(self, values: Mapping[Any, Any], removals: Iterable[Any]) -> None:
        """``_patch`` for a bulk write: one new snapshot, not one per key. A value of
        ``_MISSING`` removes its key too."""
        self._show_write(values, removals)

    def _show_write(self, values: Mapping[Any, Any], removals: Iterable[Any]) -> None:
        # See rule 6 in the module docstring.
        report = self._take_report()
        with self._lock:
            token = self.last_synced
            if report is not None:
                replaced, new_token = report
                if replaced is not None and replaced == self._write_position():
                    # The store held exactly the patched state.
                    token = self._adopt_write(new_token)
                elif self._catch_up(new_token):
                    return
            stored = {**self._stored, **values}
            gone = [key for key, value in values.items() if value is _MISSING]
            for key in [*removals, *gone]:
                stored.pop(key, None)
            self._publish(stored, token)

    def _write_position(self) -> Any:
        """What a write report's *replaced* is compared with: the position of the
        snapshot in the store's history. The token by default; a backend whose
        writes learn another version (ModelDict: the database's, not the cache
        hint's) returns the one its snapshot was loaded at. Lock held."""
        return self.last_synced

    def _adopt_write(self, reported: Any) -> Any:
        """Record that the snapshot is now at the position a write reported, and
        return the token to publish with it (by default that position). Lock held."""
        return reported

    def _catch_up(self, token: Any) -> bool:
        """After a write that replaced a token other than ours: load (the changes)
        instead of patching, which would mix our write into an older state.
        ``False`` when the store cannot be reached right after the write: the
        caller then patches the write in, keeping the old token, so this
        instance at least shows its own write, and the next sync reloads."""
        try:
            self._load_and_publish(token)
        except self.unavailable_errors as exc:
            self._mark_unavailable(exc)
            return False
        return True

    def _retry_now(self) -> None:
        """Let the next sync try the store at once instead of waiting out
        ``retry_interval``: for a backend that knows the store is back."""
        self._retry_at = 0.0

    def _mark_unavailable(self, exc: BaseException) -> None:
        self._retry_at = time.monotonic() + self.retry_interval
        self.last_failure = (time.time(), f"{type(exc).__name__}: {exc}")
        with self._health_lock:
            if self.stale_since is not None:
                return
            self.stale_since = since = time.time()
            logger.warning(
                "%s: the store cannot be reached (%s); serving the values loaded "
                "last and retrying every %ss",
                self,
                exc,
                self.retry_interval,
            )
        self._emit("unavailable", error=exc, since=since)

    def _mark_available(self) -> None:
        with self._health_lock:
            since = self.stale_since
            if since is None:
                return
            downtime = time.time() - since
            logger.warning(
                "%s: the store can be reached again after %.1fs", self, downtime
            )
            self.stale_since = None
        self._emit("recovered", since=since, downtime=downtime)

    # -- Status: counters kept off the read path, read by status() --------------

    def _init_status(self) -> None:
        #: Reloads of the whole dict since this instance was built (the first
        #: load included), and reloads of changed keys only (backends that can).
        self.full_reloads = 0
        self.incremental_reloads = 0
        #: Keys of the current snapshot whose stored value could not be decoded
        #: (and so are left out), with the error.
        self.decode_errors: dict[Any, str] = {}
        #: ``(time, "Error: message")`` of the last failed attempt to reach the
        #: store, kept after it recovers; ``None`` if it never failed.
        self.last_failure: tuple[float, str] | None = None
        #: Wall-clock times of the last load, and of the last successful
        #: ``sync()`` or load (autosync reads' checks are not timed).
        self.loaded_at: float | None = None
        self.synced_at: float | None = None
        self._load_errors: dict[Any, str] | None = None

    def _note_reload(self, full: bool) -> None:
        """Record a reload that just published its snapshot, with the lock held:
        of the whole store (*full*) or of the changed keys only."""
        self.loaded_at = self.synced_at = time.time()
        if full:
            self.full_reloads += 1
        else:
            self.incremental_reloads += 1

    def _note_decoding(self, decoded: Mapping[Any, Any], failed: dict) -> None:
        if self._load_errors is not None:  # a full reload: these are all its errors
            self._load_errors.update(failed)
        elif failed or self.decode_errors:  # some keys only: update those
            errors = {k: e for k, e in self.decode_errors.items() if k not in decoded}
            self.decode_errors = {**errors, **failed}

    def _push_status(self) -> Any:
        """Whether changes are pushed to this dict (invalidation), for status();
        ``None``: this backend does not push. JSON-ready and never secret (no
        connection URL): the health view shows it."""
        return None

    def status(self) -> DictStatus:
        """An immutable snapshot of this dict's health and counters, taken now.
        Reads nothing from the store."""
        return DictStatus.of(self)

    def _emit(self, event: str, **details: Any) -> None:
        for listener in listeners:
            try:
                listener(self, event, details)
            except Exception:
                logger.exception("%s: a %r listener failed", self, event)

    def _current(self) -> dict[Any, Any]:
        """The snapshot a read should use, after an autosync check if enabled."""
        if self._autosync:
            self._sync(wait=False)
        return self._data

    # -- Reads. With autosync off, _bind_reads replaces the first three with the
    # snapshot's own methods; these run when a read must check the store first. --

    def __getitem__(self, key: Any) -> Any:
        if self._autosync:
            self._sync(wait=False)
        return self._data[key]

    def get(self, key: Any, default: Any = None) -> Any:
        if self._autosync:
            self._sync(wait=False)
        return self._data.get(key, default)

    def __contains__(self, key: object) -> bool:
        if self._autosync:
            self._sync(wait=False)
        return key in self._data

    def __iter__(self) -> Iterator[Any]:
        return iter(self._current())

    def __reversed__(self) -> Iterator[Any]:
        return reversed(self._current())

    def __len__(self) -> int:
        return len(self._current())

    def keys(self):  # type: ignore[override]
        """A view of the keys of the snapshot current at the call."""
        return self._current().keys()

    def values(self):  # type: ignore[override]
        """A view of the values of the snapshot current at the call."""
        return self._current().values()

    def items(self):  # type: ignore[override]
        """A view of the items of the snapshot current at the call."""
        return self._current().items()

    def copy(self) -> dict[Any, Any]:
        """A plain ``dict`` with the current values."""
        return dict(self._current())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, DurableDict):
            return self._current() == other._current()
        if isinstance(other, Mapping):
            return self._current() == dict(other.items())
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # mutable, like dict

    def __or__(self, other: Any) -> dict[Any, Any]:
        if not isinstance(other, Mapping):
            return NotImplemented
        return {**self._current(), **other}

    def __ror__(self, other: Any) -> dict[Any, Any]:
        if not isinstance(other, Mapping):
            return NotImplemented
        return {**other, **self._current()}

    def __ior__(self, other: Any) -> DurableDict:
        self.update(other)
        return self

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}: {self._current()!r}>"

    def __str__(self) -> str:
        return f"{type(self).__name__} {self.name!r}"

    def __reduce_ex__(self, protocol: Any) -> Any:
        # Without this, copy.copy() and pickle would try to rebuild an instance
        # without its connection and lock. A plain dict is what callers want.
        raise TypeError(
            f"{type(self).__name__} objects cannot be copied or pickled: they hold "
            "a live store connection. Use .copy() for a plain dict of the values."
        )

    # -- Writes: always straight to the store, whatever autosync says ------------

    def __setitem__(self, key: Any, value: Any) -> None:
        local = self._roundtrip(key, value)
        self.persist(key, value)
        self._patch(key, local)

    def __delitem__(self, key: Any) -> None:
        self.pop(key)

    def pop(self, key: Any, default: Any = _MISSING) -> Any:
        """Remove *key* from the store and return its value; *default* (or
        ``KeyError``) when the store does not hold it. ``defaults`` are not
        stored, so they are never popped."""
        hook = getattr(self, "_pop", None)
        if hook is not None:
            # The hook returns the removed value, or *default* unchanged.
            value = hook(key, _MISSING)
        else:
            value = self._pop_with_contract(key)
        if value is _MISSING:
            self._take_report()  # nothing was removed: nothing to show
            if default is _MISSING:
                raise KeyError(key)
            return default
        self._patch(key)
        return value

    def _pop_with_contract(self, key: Any) -> Any:
        # Fallback for backends without _pop: not atomic against other writers.
        self.sync()
        value = self._stored.get(key, _MISSING)
        if value is not _MISSING:
            self.depersist(key)
        return value

    def setdefault(self, key: Any, default: Any = None) -> Any:
        """Return the stored value of *key*, storing *default* first if absent."""
        local = self._roundtrip(key, default)
        hook = getattr(self, "_setdefault", None)
        if hook is not None:
            value = hook(key, default)
        else:
            self.sync()
            value = self._stored.get(key, _MISSING)
            if value is _MISSING:
                self.persist(key, default)
                value = local
        self._patch(key, value)
        return value

    def popitem(self) -> tuple[Any, Any]:
        """Remove and return the last stored ``(key, value)`` pair, like dict."""
        self.sync()
        for key in reversed(list(self._stored)):
            try:
                return key, self.pop(key)
            except KeyError:
                continue  # removed by another writer since the sync: try the next
        raise KeyError("popitem(): dictionary is empty")

    def clear(self) -> None:
        """Delete every stored key."""
        self.sync()
        for key in list(self._stored):
            self.pop(key, None)
