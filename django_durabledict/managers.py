"""Managers for DurableSetting and DurableNamespace.

Every bulk write of ``DurableSettingQuerySet`` records the change of each namespace
it touches once per call, inside its own transaction, before it writes (see
``versioning.record_change``): ``update()``, ``delete()``, ``bulk_create()`` and
``bulk_update()`` cannot leave a dict stale.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from django.db import connections, models, transaction
from django.db.models import Case, F, Value, When
from django.db.models.functions import Coalesce
from django.utils import timezone

from django_durabledict import history, versioning
from django_durabledict.upsert import upsert_on_key

# Set while a bulk call has already recorded its namespaces, so the update() calls
# Django's bulk_update() makes per batch do not query them again.
_recorded: ContextVar[bool] = ContextVar("durabledict_recorded", default=False)


@contextmanager
def _already_recorded():
    token = _recorded.set(True)
    try:
        yield
    finally:
        _recorded.reset(token)


class DurableSettingQuerySet(models.QuerySet):
    """A QuerySet whose bulk writes bump the version of every namespace touched."""

    def namespace(self, name: str) -> DurableSettingQuerySet:
        """The rows of one namespace (one dict)."""
        return self.filter(namespace=name)

    def namespaces(self) -> list[str]:
        """The distinct namespaces of these rows, sorted."""
        return sorted(set(self.values_list("namespace", flat=True)))

    def update(self, **kwargs: Any) -> int:
        if _recorded.get():
            return super().update(**kwargs)
        moved_to = kwargs.get("namespace")
        if moved_to is not None and not isinstance(moved_to, str):
            raise TypeError(
                "DurableSetting update(namespace=...) takes a plain string: the "
                "namespaces an expression moves rows to cannot be tracked."
            )
        with transaction.atomic(using=self.db, savepoint=False):
            names, versions = self._record({moved_to} if moved_to else set())
            # Only rows of namespaces just recorded: a row another transaction
            # adds to a new namespace meanwhile is left alone, as if it came after.
            rows = self._within(names)
            if not versions:
                return 0
            if "namespace" in kwargs or "key" in kwargs:
                # The old (namespace, key) of each row stops existing. A locking
                # read, so that REPEATABLE READ sees the rows the UPDATE will.
                pairs = rows.select_for_update().values_list("namespace", "key")
                history.removed(self.db, list(pairs), versions)
            kwargs["version"] = _version_of_rows(versions, moved_to)
            return super(DurableSettingQuerySet, rows).update(**kwargs)

    update.alters_data = True

    def delete(self) -> tuple[int, dict[str, int]]:
        if _recorded.get():
            return super().delete()
        with transaction.atomic(using=self.db, savepoint=False):
            names, versions = self._record(set())
            # post_delete names each row actually deleted; their tombstones are
            # then written in one statement.
            with history.collecting_removals() as pairs:
                result = super(DurableSettingQuerySet, self._within(names)).delete()
            history.removed(self.db, pairs, versions)
            return result

    delete.alters_data = True

    def bulk_create(self, objs: Iterable[Any], *args: Any, **kwargs: Any) -> list:
        objs = list(objs)
        if not objs:
            return objs
        with transaction.atomic(using=self.db, savepoint=False):
            notices = versioning.record_change({obj.namespace for obj in objs}, self.db)
            versions = versioning.versions(notices)
            for obj in objs:
                obj.version = versions[obj.namespace]
            if kwargs.get("update_fields"):
                kwargs["update_fields"] = [*kwargs["update_fields"], "version"]
            with _already_recorded():
                return super().bulk_create(objs, *args, **kwargs)

    bulk_create.alters_data = True

    def bulk_update(self, objs: Iterable[Any], fields: Any, **kwargs: Any) -> int:
        objs = list(objs)
        if not objs:
            return 0
        fields = list(fields)
        with transaction.atomic(using=self.db, savepoint=False):
            names = {obj.namespace for obj in objs}
            moving = "namespace" in fields or "key" in fields
            if moving:  # rows move: their old namespaces change too
                pks = [obj.pk for obj in objs]
                names |= set(self.filter(pk__in=pks).namespaces())
            versions = versioning.versions(versioning.record_change(names, self.db))
            if moving:  # their old (namespace, key) stop existing
                old = self.filter(pk__in=pks).select_for_update()
                pairs = old.values_list("namespace", "key")
                history.removed(self.db, list(pairs), versions)
            for obj in objs:
                obj.version = versions[obj.namespace]
            with _already_recorded():
                return super().bulk_update(objs, [*fields, "version"], **kwargs)

    bulk_update.alters_data = True

    def set_many(self, namespace: str, values: Mapping[str, str]) -> None:
        """Insert or overwrite encoded *values* in *namespace*: one transaction,
        one version bump."""
        if not values:
            return
        objs = [
            self.model(namespace=namespace, key=key, value=value)
            for key, value in values.items()
        ]
        upsert_on_key(self, objs, ["value", "updated"])

    set_many.alters_data = True

    def delete_many(self, namespace: str, keys: Iterable[str]) -> int:
        """Delete *keys* of *namespace*; returns how many rows went."""
        keys = list(keys)
        if not keys:
            return 0
        return self.namespace(namespace).filter(key__in=keys).delete()[0]

    delete_many.alters_data = True

    def _record(self, extra: set[str]) -> tuple[set[str], dict[str, int]]:
        names = set(self.namespaces()) | extra
        notices = versioning.record_change(names, self.db)
        return names, versioning.versions(notices)

    def _within(self, names: set[str]) -> DurableSettingQuerySet:
        return self.filter(namespace__in=names)


def _version_of_rows(versions: dict[str, int], moved_to: str | None) -> Any:
    """The ``version`` an update gives its rows: their (new) namespace's."""
    if moved_to is not None:
        return versions[moved_to]
    if len(versions) == 1:
        return next(iter(versions.values()))
    whens = [When(namespace=name, then=Value(v)) for name, v in versions.items()]
    return Case(*whens, output_field=models.BigIntegerField())


class DurableSettingManager(models.Manager.from_queryset(DurableSettingQuerySet)):
    """``DurableSetting.objects``: per-namespace querysets and bulk helpers.

    Values passed to these helpers are already encoded (text); a ``ModelDict`` does
    the encoding for you."""

    def get_by_natural_key(self, namespace: str, key: str) -> Any:
        return self.get(namespace=namespace, key=key)


# The conflict clause of the bump's upsert, per database vendor. ``pruned`` is
# assigned first: MySQL evaluates the assignments left to right, so it must read
# the version before the bump (a NULL horizon becomes the version replaced).
_ON_CONFLICT = {
    "mysql": (
        " ON DUPLICATE KEY UPDATE {pruned} = COALESCE({pruned}, {version}), "
        "{version} = {version} + 1, {updated} = %s"
    ),
    "postgresql": (
        " ON CONFLICT (name) DO UPDATE SET "
        "{pruned} = COALESCE({table}.{pruned}, {table}.{version}), "
        "{version} = {table}.{version} + 1, {updated} = %s"
    ),
    "sqlite": (
        " ON CONFLICT (name) DO UPDATE SET "
        "{pruned} = COALESCE({table}.{pruned}, {table}.{version}), "
        "{version} = {table}.{version} + 1, {updated} = %s"
    ),
}

#: What :meth:`DurableNamespaceQuerySet.bump` returns per namespace: the version
#: the bump replaced (``None`` when it created the namespace) and the new one.
Bumped = tuple[int | None, int]


class DurableNamespaceQuerySet(models.QuerySet):
    """Reads and bumps namespace versions."""

    def version(self, name: str) -> int | None:
        """The namespace's current version, or ``None`` if it was never written."""
        return self.filter(name=name).values_list("version", flat=True).first()

    def bump(self, names: Iterable[str]) -> dict[str, Bumped]:
        """Add one to the version of each namespace, creating a missing row at a
        random version: one upsert statement (and, without ``RETURNING``, one
        read of the new versions). Call inside the writer's transaction.

        Returns ``{name: (replaced, new)}``. A row created here starts its history
        (``pruned`` = its first version), and stale tombstones of an earlier row
        of that name are deleted.

        One upsert rather than ``UPDATE ... SET version = version + 1`` and, for a
        new namespace, an INSERT: on MariaDB/MySQL that UPDATE takes a gap lock
        when the row is missing, and two first writers then deadlock on their
        INSERTs."""
        names = sorted(set(names))  # a fixed lock order across writers
        if not names:
            return {}
        connection = connections[self.db]
        if connection.vendor not in _ON_CONFLICT:
            self._bump_portably(names)
            return self._bumped(names, self._read_bumped(names))
        sql, params = self._bump_sql(connection, names)
        returning = _can_return(connection)
        if returning:
            quote = connection.ops.quote_name
            sql += " RETURNING {}, {}, {}".format(
                *map(quote, ("name", "version", "pruned"))
            )
            if connection.vendor == "postgresql":
                # Tell pushed readers (push/pgchannel.py), in the same statement:
                # a NOTIFY is delivered only when the writer's transaction commits.
                from django_durabledict.push.pgchannel import notify_column

                column, extra = notify_column(quote("name"))
                sql, params = f"{sql}, {column}", params + extra
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            if returning:
                rows = [row[:3] for row in cursor.fetchall()]
            else:
                rows = self._read_bumped(names)
        return self._bumped(names, rows)

    bump.alters_data = True

    def _bump_sql(self, connection: Any, names: list[str]) -> tuple[str, list]:
        meta = self.model._meta
        updated = meta.get_field("updated").get_db_prep_value(
            timezone.now(), connection
        )
        rows = []
        for name in names:
            first = meta.get_field("version").get_default()
            rows.append((name, first, updated, first))
        quote = connection.ops.quote_name
        table = quote(meta.db_table)
        columns = ", ".join(map(quote, ("name", "version", "updated", "pruned")))
        sql = (
            f"INSERT INTO {table} ({columns}) VALUES "
            + ", ".join(["(%s, %s, %s, %s)"] * len(rows))
            + _ON_CONFLICT[connection.vendor].format(
                table=table,
                version=quote("version"),
                updated=quote("updated"),
                pruned=quote("pruned"),
            )
        )
        return sql, [*(v for row in rows for v in row), updated]

    def _read_bumped(self, names: list[str]) -> list[tuple[str, int, int | None]]:
        # Inside the bump's transaction, after it: the rows are ours (locked), so
        # even a REPEATABLE READ snapshot shows our own new versions.
        return list(
            self.filter(name__in=names).values_list("name", "version", "pruned")
        )

    def _bumped(self, names: list[str], rows: Iterable[tuple]) -> dict[str, Bumped]:
        result, created = {}, []
        for name, version, pruned in rows:
            # Only a row created by this statement has its horizon at its version:
            # a bump leaves the horizon at or below the version it replaced.
            if pruned == version:
                created.append(name)
                result[name] = (None, version)
            else:
                result[name] = (version - 1, version)
        if created:
            from django_durabledict.models import DurableTombstone

            DurableTombstone.objects.db_manager(self.db).filter(
                namespace__in=created
            ).delete()
        return result

    def _bump_portably(self, names: list[str]) -> None:
        # Databases without an upsert we know: update, create what is missing
        # (a concurrent creator's row wins), update what was just created.
        existing = set(self.filter(name__in=names).values_list("name", flat=True))
        if existing:
            self.filter(name__in=existing).update(
                pruned=Coalesce("pruned", "version"), version=F("version") + 1
            )
        missing = [name for name in names if name not in existing]
        if missing:
            first = [new_row(self.model, name) for name in missing]
            self.bulk_create(first, ignore_conflicts=True)


def new_row(model: Any, name: str) -> Any:
    """A namespace row at a fresh version, its history starting there."""
    row = model(name=name)
    row.pruned = row.version
    return row


def _can_return(connection: Any) -> bool:
    # MariaDB 10.5+ returns the updated row after ON DUPLICATE KEY UPDATE, as
    # PostgreSQL and SQLite do after ON CONFLICT; MySQL has no RETURNING.
    if connection.vendor == "mysql" and not connection.mysql_is_mariadb:
        return False
    return bool(connection.features.can_return_columns_from_insert)


class DurableNamespaceManager(models.Manager.from_queryset(DurableNamespaceQuerySet)):
    """``DurableNamespace.objects``: reads and bumps namespace versions."""

    def get_by_natural_key(self, name: str) -> Any:
        return self.get(name=name)
