"""ModelDict: a dict kept in database rows, with its version hint in a Django cache.

Two ways to use it:

* bound to one *namespace* of :class:`~django_durabledict.models.DurableSetting`
  (``ModelDict(namespace="features")``, or a ``DURABLEDICTS`` entry without
  ``MODEL``): the database also holds an authoritative version per namespace, and a
  lost cache bump heals at the next backstop check;
* on your own model, as the original durabledict did
  (``ModelDict(Setting.objects, "default")``): one row per key in ``key_col`` and
  ``value_col``; with no version in the database the backstop simply reloads.

Costs: a sync when nothing changed is one cache round trip and no query; a sync
after a change is one query (rows and version together); reads with ``autosync``
off touch neither. See docs/backends/model.rst for the failure behaviour.

Consistency caveats: the cache must be shared by every process (memcached, Redis);
with a process-local cache (locmem) other processes only see changes at their
backstop check. Reads and writes go to one database alias (the model's write
database by default), never to a lagging replica.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from django.db import InterfaceError, OperationalError, router, transaction

from django_durabledict import history, versioning
from django_durabledict.backends.cachetoken import CacheToken
from django_durabledict.backends.modelchangeset import compare_locked
from django_durabledict.backends.modelconfig import DEFAULT_TOMBSTONE_MAX_AGE
from django_durabledict.backends.modelrows import RowsMixin
from django_durabledict.backends.modelsync import IncrementalMixin
from django_durabledict.backends.tokenwatch import TokenWatch, unwrap
from django_durabledict.backends.txviews import TransactionViewsMixin
from django_durabledict.base import _MISSING
from django_durabledict.encoding import DefaultEncoding
from django_durabledict.push import DEFAULT_BACKSTOP
from django_durabledict.push.modelchannel import model_push


class ModelDict(RowsMixin, IncrementalMixin, TransactionViewsMixin):
    """A DurableDict whose values are rows of a Django model.

    ``manager`` is the model's manager (``None`` means ``DurableSetting.objects``,
    which needs ``namespace``); ``cache`` a cache alias or object holding the token.
    ``backstop_interval`` (seconds, ``None`` to disable) bounds how long a lost cache
    bump can hide a change. ``database`` overrides the database alias.
    ``tombstone_max_age`` (seconds) is how long the record of a delete is kept
    for incremental syncs (DurableSetting only; see ``modelsync.py``). ``push``
    turns on push invalidation (docs/push.rst: a Redis token cache, or PostgreSQL
    for DurableSetting), with a poll at least every ``push_backstop`` seconds.
    """

    #: The store is the database: these mean "cannot reach it right now".
    unavailable_errors = (OSError, OperationalError, InterfaceError)
    config_keys = frozenset(
        {"CACHE", "DATABASE", "MODEL", "BACKSTOP_INTERVAL", "TOMBSTONE_MAX_AGE"}
        | {"PUSH", "PUSH_BACKSTOP"}
    )

    def __init__(
        self,
        manager: Any = None,
        cache: Any = "default",
        key_col: str = "key",
        value_col: str = "value",
        return_instances: bool = False,
        autosync: bool = True,
        encoding: Any = DefaultEncoding,
        old_encoding: Any = None,
        *,
        namespace: str | None = None,
        defaults: Mapping[Any, Any] | None = None,
        name: str | None = None,
        backstop_interval: float | None = 30.0,
        database: str | None = None,
        tombstone_max_age: float = DEFAULT_TOMBSTONE_MAX_AGE,
        push: bool = False,
        push_backstop: float = DEFAULT_BACKSTOP,
    ) -> None:
        self._bind(manager, key_col, value_col, namespace, database)
        self._init_incremental(tombstone_max_age)
        self.return_instances = return_instances
        self.token = CacheToken(cache, self._token_key())
        versioning.watch(self.token)
        self.watch = TokenWatch(
            self,
            self.token,
            self._db_version if self.versioned else None,
            backstop_interval,
        )
        self._init_views()
        # Named after what it holds, so log lines say which namespace or table.
        name = name or namespace or self.model._meta.db_table
        if push:
            self._push = model_push(self, push_backstop, name)
        super().__init__(autosync, encoding, old_encoding, defaults=defaults, name=name)

    def _bind(self, manager, key_col, value_col, namespace, database) -> None:
        if manager is None:
            from django_durabledict.models import DurableSetting

            manager = DurableSetting._default_manager
        self.manager = manager
        self.model = manager.model
        self.key_col, self.value_col = key_col, value_col
        self.namespace = namespace
        self.versioned = self._is_durable_setting()
        if self.versioned and namespace is None:
            raise ValueError("ModelDict on DurableSetting needs namespace=...")
        if self.versioned and (key_col, value_col) != ("key", "value"):
            raise ValueError(
                "ModelDict on DurableSetting uses key_col='key', value_col='value'"
            )
        if namespace is not None and not self._has_field("namespace"):
            raise ValueError(f"{self.model.__name__} has no 'namespace' field")
        self.using = database or router.db_for_write(self.model)

    def _token_key(self) -> str:
        return versioning.token_key(
            self.using, self.model._meta.db_table, self.namespace
        )

    # -- The backend contract ---------------------------------------------------

    def persist(self, key: Any, value: Any) -> None:
        """Store *value* under *key*; the token changes after commit. An unchanged
        encoded value is not written at all (and changes nothing)."""
        encoded = self._encode(value)
        # Compared before the transaction: its first statement must be a write
        # (see _will_write). A race here only means one write more or fewer.
        if self._stored_value(key) == encoded:
            if self._behind_on(key, value):
                self._wrote(None, None)  # nothing written: catch up instead
            return
        with self._reporting():
            self._write([key], lambda: self._upsert(key, encoded))

    def _behind_on(self, key: Any, value: Any) -> bool:
        """Whether a write of an unchanged value finds the snapshot showing
        another one (outside a transaction, on DurableSetting)."""
        if not self.versioned or self._connection().in_atomic_block:
            return False
        return not self._shows(key, self._roundtrip(key, value))

    def depersist(self, key: Any) -> None:
        """Delete *key*; ``KeyError`` if it is not stored."""
        if self._pop(key, _MISSING) is _MISSING:
            raise KeyError(key)

    def durables(self) -> dict[Any, Any]:
        """Every stored key with its decoded value, read now (one query)."""
        return self._to_values(self._query()[0])

    def last_updated(self) -> Any:
        """The cache token, or ``None`` (reload) when the backstop found the
        database moved. While the cache cannot be read: the token last loaded."""
        if self.watch.backstop_says_changed():
            return None
        return self.watch.hint(unknown=self.last_synced)

    def _load(self, token: Any) -> tuple[Any, dict[Any, Any]]:
        if token is None:
            # Read (or seed) the hint before the rows, as every sync does; while
            # the cache is down a private marker forces a reload once it is back.
            token = self.watch.hint(unknown=object())
        rows, version = self._query()
        self.watch.loaded_version = version
        return unwrap(token), self._to_values(rows)

    def _load_in_transaction(self) -> dict[Any, Any]:
        return self._to_values(self._query()[0])

    def _transaction_token(self, unknown: Any) -> Any:
        return self.watch.hint(unknown=unknown)

    def _token_value(self, token: Any) -> Any:
        return unwrap(token)

    def _pending_mark(self) -> Any:
        notice = versioning.pending_notice(self.using, self.token.key)
        return None if notice is None else (notice, notice.changes)

    # -- Atomic pop and setdefault (hooks of DurableDict) ----------------------------

    def _pop(self, key: Any, default: Any) -> Any:
        """Delete *key* and return its decoded value, or *default* unchanged.

        Writers are serialised before the row is read (the namespace's version row
        for DurableSetting, the row itself otherwise, then ``select_for_update``),
        so of two concurrent pops exactly one gets the value."""

        def take() -> Any:
            row = self._locked_row(key)
            if row is None:
                raise _Absent  # rolls the version bump back with the savepoint
            self._rows().filter(pk=row.pk).delete()
            return row

        try:
            with self._reporting():
                row = self._write([key], take, savepoint=True)
        except _Absent:
            return default
        return row if self.return_instances else self._decode(self._value_of(row))

    def _setdefault(self, key: Any, default: Any) -> Any:
        encoded = self._encode(default)
        with self._reporting():
            row, created = self._get_or_create(key, encoded)
            if created:
                self._notify_unversioned()
        value = row if self.return_instances else self._decode(self._value_of(row))
        if not created and self._shows(key, value):
            self._take_report()  # nothing written, and the snapshot shows it
        return value

    def __setitem__(self, key: Any, value: Any) -> None:
        if not self.return_instances:
            super().__setitem__(key, value)
            return
        self._roundtrip(key, value)  # raises before anything is written
        self.persist(key, value)
        self._patch(key, self._rows().get(**{self.key_col: key}))

    # -- Bulk hooks (durabledict_dump / durabledict_load) and clear -----------------

    def _raw_snapshot(self) -> dict[Any, Any]:
        return dict(self._raw_rows())

    def clear(self) -> None:
        """Delete every stored key in one transaction with one token change."""
        self.sync()
        self._apply({}, list(self._visible()[1]))

    # -- Telling other processes -------------------------------------------------

    def touch_last_updated(self) -> None:
        """Change the token (after the current transaction commits): call it after
        writing rows of your own model behind this dict's back."""
        with transaction.atomic(using=self.using, savepoint=False):
            self._will_write([])
            self._notify_unversioned()
            if self.versioned:
                # Rows may have changed without their history (raw SQL): every
                # snapshot, this one too, reloads in full at its next sync.
                notice = versioning.pending_notice(self.using, self.token.key)
                if notice is not None and notice.version is not None:
                    history.forget(self.namespace, notice.version, self.using)

    def connect_signals(self) -> None:
        """Bump this dict's token on every ``post_save``/``post_delete`` of its
        model, in this process, whether or not this dict made the change."""
        versioning.track_model(
            self.model, self.token.cache_ref, namespaced=self.namespace is not None
        )

    def close(self) -> None:
        """Leave the push listener, if any (the cache and database connections
        are Django's)."""
        if self._push is not None:
            self._push.close()

    def _push_status(self) -> dict[str, Any] | None:
        """Push health (see push/__init__.py), or ``None`` without push."""
        return None if self._push is None else self._push.status()

    @property
    def token_unavailable_since(self) -> float | None:
        """When the cache holding the token stopped answering (None: it answers)."""
        return self.watch.unavailable_since

    # -- DURABLEDICTS ---------------------------------------------------------------

    @classmethod
    def from_config(cls, name: str, config: Mapping[str, Any]) -> ModelDict:
        from django_durabledict.backends.modelconfig import build

        return build(cls, name, config)

    @classmethod
    def check_config(cls, name: str, config: Mapping[str, Any]) -> list[str]:
        from django_durabledict.backends.modelconfig import problems

        return problems(name, config)

    @classmethod
    def setting_binding(cls, name: str, config: Mapping[str, Any], using: str):
        from django_durabledict.backends.modelconfig import setting_binding

        return setting_binding(name, config, using)

    # -- Bulk hooks of durabledict_load (see management/loadplan.py) -----------------

    def _apply_encoded(
        self, encoded: Mapping[Any, Any], removals: Iterable[Any], expect: Any = None
    ) -> None:
        """As ``_apply``, with values already encoded: written exactly as given.

        One transaction. With *expect* (a checked changeset) the rows read are
        compared inside it, after the writers' lock is taken (the namespace's
        version row for DurableSetting, the rows' own locks otherwise), in a
        savepoint, so a conflict rolls back only this change."""
        encoded = dict(encoded)
        removals = [key for key in removals if key not in encoded]

        def work() -> None:
            if expect is not None:
                compare_locked(self, expect)
            self._bulk_write(encoded, removals)

        locked = [*encoded, *removals, *(expect.values if expect else ())]
        with self._reporting():
            self._write(locked, work, savepoint=expect is not None)
        self._patch_many(self._shown_values(encoded), removals)

    def _show_committed(self, view: Any, key: Any, value: Any) -> None:
        """A write made in a transaction has committed. On DurableSetting the
        snapshot catches up once per transaction (one query: the changes), so
        it never shows part of the transaction, nor our writes over an older
        state; a model of your own has no versions, and each write is patched."""
        if not self.versioned:
            super()._show_committed(view, key, value)
            return
        if view.caught_up:
            return
        with self._lock:
            view.caught_up = self._catch_up(None)
        if not view.caught_up:  # the store cannot be reached: show our write
            super()._show_committed(view, key, value)

    def _patch_many(self, values: Mapping[Any, Any], removals: Iterable[Any]) -> None:
        if self._connection().in_atomic_block:
            # Inside the caller's transaction: the view shows them, and each
            # reaches the shared snapshot when the transaction commits.
            for key, value in values.items():
                self._patch(key, value)
            for key in removals:
                self._patch(key)
            return
        super()._patch_many(values, removals)

    def _shown_values(self, encoded: dict[Any, Any]) -> dict[Any, Any]:
        """What this instance shows for *encoded* at once: the rows themselves with
        ``return_instances``, else the decoded values (a value that cannot be
        decoded is left out, as a reload would leave it out)."""
        if self.return_instances:
            rows = self._rows().filter(**{f"{self.key_col}__in": list(encoded)})
            return {getattr(row, self.key_col): row for row in rows}
        values = self._decode_items(encoded.items())
        return {key: values.get(key, _MISSING) for key in encoded}

    def _check_apply(
        self, encoded: Mapping[Any, Any], removals: Iterable[Any]
    ) -> list[str]:
        """What the table would refuse in ``_apply_encoded(encoded, removals)``."""
        from django_durabledict.backends.modelcheck import problems

        return problems(self, encoded, removals)


class _Absent(Exception):
    """Raised inside a pop's transaction when the key is not stored."""
