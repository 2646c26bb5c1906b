"""The queries of a ModelDict: the rows of one dict, and its database version.

A reload is one query. For DurableSetting the rows and the namespace's version come
back together (``UNION ALL`` of the rows and one marker row holding the version),
so the version always matches the rows it was read with, even while writers commit.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db import OperationalError, models, transaction
from django.db.models import F
from django.db.models.functions import Cast

from django_durabledict import versioning

# Errors after which the database rolled the whole transaction back and asks for a
# retry: MySQL/MariaDB deadlock (1213), PostgreSQL deadlock and serialization
# failure, SQLite's busy database.
_MYSQL_RETRY = {1213}
_POSTGRESQL_RETRY = {"40P01", "40001"}


def retry_deadlocks(using: str, attempt: Callable[[], Any], tries: int = 3) -> Any:
    """Call *attempt* (which opens its own transaction), again after a deadlock,
    unless it runs inside a caller's transaction: that one is lost already, and
    only the caller can retry it."""
    nested = transaction.get_connection(using).in_atomic_block
    for remaining in reversed(range(tries)):
        try:
            return attempt()
        except OperationalError as exc:
            if nested or not remaining or not _asks_for_retry(exc):
                raise
    raise AssertionError("unreachable")


def _asks_for_retry(exc: OperationalError) -> bool:
    cause = exc.__cause__
    if getattr(cause, "sqlstate", None) in _POSTGRESQL_RETRY:
        return True
    args = getattr(cause, "args", ())
    if args and args[0] in _MYSQL_RETRY:
        return True
    return "database is locked" in str(exc)


class Changes:
    """The answer of ``_query_changes``: rows changed, keys removed, and the
    namespace's version and history horizon when they were read."""

    def __init__(self) -> None:
        self.rows: list[tuple[Any, Any]] = []
        self.removed: list[Any] = []
        self.version: int | None = None
        self.pruned: int | None = None

    def reach_back_to(self, since: int) -> bool:
        """Whether these are all the changes after *since*: the history is kept
        back to it, and the namespace did not start a new history above it."""
        return self.pruned is not None and self.pruned <= since <= self.version


class RowsMixin:
    """Query helpers for ModelDict; expects ``manager``, ``model``, ``using``,
    ``key_col``, ``value_col``, ``namespace``, ``versioned``, ``return_instances``."""

    manager: Any
    model: Any
    using: str
    key_col: str
    value_col: str
    namespace: str | None
    versioned: bool
    return_instances: bool

    def _has_field(self, name: str) -> bool:
        return any(field.name == name for field in self.model._meta.concrete_fields)

    def _is_durable_setting(self) -> bool:
        from django_durabledict.models import DurableSetting

        return self.model._meta.concrete_model is DurableSetting

    # -- Building querysets ----------------------------------------------------------

    def _scope(self) -> dict[str, Any]:
        return {} if self.namespace is None else {"namespace": self.namespace}

    def _rows(self) -> Any:
        """This dict's rows, through the manager given (with its own filtering)."""
        return self.manager.db_manager(self.using).filter(**self._scope())

    def _versions(self) -> Any:
        from django_durabledict.models import DurableNamespace

        manager = DurableNamespace._default_manager.db_manager(self.using)
        return manager.filter(name=self.namespace)

    def _db_version(self) -> int | None:
        return self._versions().values_list("version", flat=True).first()

    # -- Reading ---------------------------------------------------------------------

    def _query(self) -> tuple[list[tuple[Any, Any]], int | None]:
        """``([(key, stored or instance)], database version)`` in one query."""
        if self.return_instances:
            return self._query_instances()
        if not self.versioned:
            return self._raw_rows(), None
        # Both sides name their columns alike: Django before 5.0 resolves the
        # first side's names on every side of a union.
        marker = self._versions().annotate(
            _dd_key=models.Value(None, output_field=models.CharField()),
            _dd_value=Cast("version", output_field=models.TextField()),
        )
        data = self._rows().annotate(_dd_key=F("key"), _dd_value=F("value"))
        rows, version = [], None
        for key, stored in data.values_list("_dd_key", "_dd_value").union(
            marker.values_list("_dd_key", "_dd_value"), all=True
        ):
            if key is None:  # keys are NOT NULL: this is the marker row
                version = int(stored)
            else:
                rows.append((key, stored))
        return rows, version

    def _query_instances(self) -> tuple[list[tuple[Any, Any]], int | None]:
        queryset = self._rows()
        if self.versioned:
            version = models.Subquery(self._versions().values("version")[:1])
            queryset = queryset.annotate(_durabledict_version=version)
        rows = [(getattr(row, self.key_col), row) for row in queryset]
        if not self.versioned:
            return rows, None
        if rows:
            return rows, rows[0][1]._durabledict_version
        return rows, self._db_version()

    def _query_changes(self, since: int) -> Changes | None:
        """What changed after version *since*, in one query (``UNION ALL`` of the
        rows changed, the tombstones and the namespace's marker row, so all three
        are one snapshot); ``None`` when the namespace has no version row."""
        from django_durabledict.models import DurableTombstone

        text = models.TextField()
        marker = self._versions().annotate(
            _dd_kind=models.Value(0, output_field=models.IntegerField()),
            _dd_key=Cast("pruned", output_field=text),
            _dd_value=Cast("version", output_field=text),
        )
        data = self._rows().filter(version__gt=since)
        data = data.annotate(
            _dd_kind=models.Value(1, output_field=models.IntegerField()),
            _dd_key=F("key"),
            _dd_value=F("value"),
        )
        tombstones = DurableTombstone.objects.db_manager(self.using).filter(
            namespace=self.namespace, version__gt=since
        )
        tombstones = tombstones.annotate(
            _dd_kind=models.Value(2, output_field=models.IntegerField()),
            _dd_key=F("key"),
            _dd_value=models.Value(None, output_field=text),
        )
        columns = ("_dd_kind", "_dd_key", "_dd_value")
        found = Changes()
        for kind, key, stored in marker.values_list(*columns).union(
            data.values_list(*columns), tombstones.values_list(*columns), all=True
        ):
            if kind == 0:
                found.version = int(stored)
                found.pruned = None if key is None else int(key)
            elif kind == 1:
                found.rows.append((key, stored))
            else:
                found.removed.append(key)
        return found if found.version is not None else None

    def _raw_rows(self) -> list[tuple[Any, Any]]:
        return list(self._rows().values_list(self.key_col, self.value_col))

    def _to_values(self, rows: list[tuple[Any, Any]]) -> dict[Any, Any]:
        if self.return_instances:
            return dict(rows)
        return self._decode_items(rows)  # type: ignore[attr-defined]

    def _stored_value(self, key: Any) -> Any:
        rows = self._rows().filter(**{self.key_col: key})
        return rows.values_list(self.value_col, flat=True).first()

    def _value_of(self, row: Any) -> Any:
        return getattr(row, self.value_col)

    # -- Writing ---------------------------------------------------------------------

    def _write(self, keys: list[Any], work: Any, savepoint: bool = False) -> Any:
        """Run *work* in a transaction between _will_write and
        _notify_unversioned; retried after a deadlock when the transaction is
        this call's own."""

        def attempt() -> Any:
            with transaction.atomic(using=self.using, savepoint=savepoint):
                self._will_write(keys)
                result = work()
                self._notify_unversioned()
                return result

        return retry_deadlocks(self.using, attempt)

    def _will_write(self, keys: list[Any]) -> None:
        """The first statement of every write transaction: a write, so each writer
        takes its locks in one order and none of them waits holding a read lock
        (SQLite would fail one of two such writers with "database is locked")."""
        if self.versioned:
            # Lock and bump the namespace's version row, before any setting row,
            # as DurableSetting.save() does.
            versioning.record_change([self.namespace], self.using)
        elif keys:
            self._lock_keys(keys)

    def _notify_unversioned(self) -> None:
        # DurableSetting's own writes notify through record_change(); a user's
        # model has only the cache token, bumped once the transaction commits.
        if not self.versioned:
            versioning.notify_after_commit(
                self.using, self.model._meta.db_table, self.namespace
            )

    def _lookup(self, key: Any) -> dict[str, Any]:
        # Passed explicitly: get_or_create() does not copy the queryset's filters
        # into the row it creates.
        return {self.key_col: key, **self._scope()}

    def _upsert(self, key: Any, encoded: Any) -> Any:
        row, _created = self.manager.db_manager(self.using).update_or_create(
            **self._lookup(key), defaults={self.value_col: encoded}
        )
        return row

    def _get_or_create(self, key: Any, encoded: Any) -> tuple[Any, bool]:
        # get_or_create() handles the race of two creators (IntegrityError, then
        # get): both return the row that won.
        return self.manager.db_manager(self.using).get_or_create(
            **self._lookup(key), defaults={self.value_col: encoded}
        )

    def _lock_keys(self, keys: list[Any]) -> None:
        # A no-op UPDATE: row locks on PostgreSQL and MariaDB, SQLite's write lock.
        rows = self._rows().filter(**{f"{self.key_col}__in": keys})
        rows.update(**{self.value_col: models.F(self.value_col)})

    def _locked_row(self, key: Any) -> Any:
        rows = self._rows().select_for_update().filter(**{self.key_col: key})
        return rows.first()

    def _bulk_write(self, encoded: dict[Any, Any], removals: list[Any]) -> None:
        if self.versioned:
            from django_durabledict.models import DurableSetting

            manager = DurableSetting.objects.db_manager(self.using)
            manager.set_many(self.namespace, encoded)
            manager.delete_many(self.namespace, removals)
            return
        for key, value in encoded.items():
            self._upsert(key, value)
        if removals:
            self._rows().filter(**{f"{self.key_col}__in": removals}).delete()
