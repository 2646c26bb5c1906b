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
from django.db.models import F
from django.utils import timezone

from django_durabledict import versioning

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
            names = self._record({moved_to} if moved_to else set())
            # Only rows of namespaces just recorded: a row another transaction
            # adds to a new namespace meanwhile is left alone, as if it came after.
            return super(DurableSettingQuerySet, self._within(names)).update(**kwargs)

    update.alters_data = True

    def delete(self) -> tuple[int, dict[str, int]]:
        if _recorded.get():
            return super().delete()
        with transaction.atomic(using=self.db, savepoint=False):
            names = self._record(set())
            return super(DurableSettingQuerySet, self._within(names)).delete()

    delete.alters_data = True

    def bulk_create(self, objs: Iterable[Any], *args: Any, **kwargs: Any) -> list:
        objs = list(objs)
        if not objs:
            return objs
        with transaction.atomic(using=self.db, savepoint=False):
            versioning.record_change({obj.namespace for obj in objs}, self.db)
            with _already_recorded():
                return super().bulk_create(objs, *args, **kwargs)

    bulk_create.alters_data = True

    def bulk_update(self, objs: Iterable[Any], fields: Any, **kwargs: Any) -> int:
        objs = list(objs)
        if not objs:
            return 0
        with transaction.atomic(using=self.db, savepoint=False):
            names = {obj.namespace for obj in objs}
            if "namespace" in fields:  # rows move: their old namespaces change too
                pks = [obj.pk for obj in objs]
                names |= set(self.filter(pk__in=pks).namespaces())
            versioning.record_change(names, self.db)
            with _already_recorded():
                return super().bulk_update(objs, fields, **kwargs)

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
        features = connections[self.db].features
        self.bulk_create(
            objs,
            update_conflicts=True,
            update_fields=["value", "updated"],
            # MySQL and MariaDB upsert on any unique key and refuse a target.
            unique_fields=(
                ["namespace", "key"]
                if features.supports_update_conflicts_with_target
                else None
            ),
        )

    set_many.alters_data = True

    def delete_many(self, namespace: str, keys: Iterable[str]) -> int:
        """Delete *keys* of *namespace*; returns how many rows went."""
        keys = list(keys)
        if not keys:
            return 0
        return self.namespace(namespace).filter(key__in=keys).delete()[0]

    delete_many.alters_data = True

    def _record(self, extra: set[str]) -> set[str]:
        names = set(self.namespaces()) | extra
        versioning.record_change(names, self.db)
        return names

    def _within(self, names: set[str]) -> DurableSettingQuerySet:
        return self.filter(namespace__in=names)


class DurableSettingManager(models.Manager.from_queryset(DurableSettingQuerySet)):
    """``DurableSetting.objects``: per-namespace querysets and bulk helpers.

    Values passed to these helpers are already encoded (text); a ``ModelDict`` does
    the encoding for you."""

    def get_by_natural_key(self, namespace: str, key: str) -> Any:
        return self.get(namespace=namespace, key=key)


# The conflict clause of the bump's upsert, per database vendor.
_ON_CONFLICT = {
    "mysql": " ON DUPLICATE KEY UPDATE {version} = {version} + 1, {updated} = %s",
    "postgresql": (
        " ON CONFLICT (name) DO UPDATE SET {version} = {table}.{version} + 1, "
        "{updated} = %s"
    ),
    "sqlite": (
        " ON CONFLICT (name) DO UPDATE SET {version} = {table}.{version} + 1, "
        "{updated} = %s"
    ),
}


class DurableNamespaceQuerySet(models.QuerySet):
    """Reads and bumps namespace versions."""

    def version(self, name: str) -> int | None:
        """The namespace's current version, or ``None`` if it was never written."""
        return self.filter(name=name).values_list("version", flat=True).first()

    def bump(self, names: Iterable[str]) -> None:
        """Add one to the version of each namespace, creating a missing row at a
        random version: one upsert statement. Call inside the writer's transaction.

        One upsert rather than ``UPDATE ... SET version = version + 1`` and, for a
        new namespace, an INSERT: on MariaDB/MySQL that UPDATE takes a gap lock
        when the row is missing, and two first writers then deadlock on their
        INSERTs."""
        names = sorted(set(names))  # a fixed lock order across writers
        if not names:
            return
        connection = connections[self.db]
        if connection.vendor not in _ON_CONFLICT:
            self._bump_portably(names)
            return
        meta = self.model._meta
        updated = meta.get_field("updated").get_db_prep_value(
            timezone.now(), connection
        )
        rows = [
            (name, meta.get_field("version").get_default(), updated) for name in names
        ]
        quote = connection.ops.quote_name
        table = quote(meta.db_table)
        sql = (
            f"INSERT INTO {table} ({quote('name')}, {quote('version')}, "
            f"{quote('updated')}) VALUES "
            + ", ".join(["(%s, %s, %s)"] * len(rows))
            + _ON_CONFLICT[connection.vendor].format(
                table=table, version=quote("version"), updated=quote("updated")
            )
        )
        params = [*(v for row in rows for v in row), updated]
        if connection.vendor == "postgresql":
            # Tell pushed readers (push/pgchannel.py), in the same statement: a
            # NOTIFY is delivered only when the writer's transaction commits.
            from django_durabledict.push.pgchannel import notify_returning

            returning, extra = notify_returning(quote("name"))
            sql, params = sql + returning, params + extra
        with connection.cursor() as cursor:
            cursor.execute(sql, params)

    bump.alters_data = True

    def _bump_portably(self, names: list[str]) -> None:
        # Databases without an upsert we know: update, create what is missing
        # (a concurrent creator's row wins), update what was just created.
        existing = set(self.filter(name__in=names).values_list("name", flat=True))
        if existing:
            self.filter(name__in=existing).update(version=F("version") + 1)
        missing = [name for name in names if name not in existing]
        if missing:
            self.bulk_create(
                [self.model(name=name) for name in missing], ignore_conflicts=True
            )


class DurableNamespaceManager(models.Manager.from_queryset(DurableNamespaceQuerySet)):
    """``DurableNamespace.objects``: reads and bumps namespace versions."""

    def get_by_natural_key(self, name: str) -> Any:
        return self.get(name=name)
