"""The change history of DurableSetting namespaces, for incremental syncs.

A ``ModelDict`` snapshot loaded at namespace version ``V`` is brought up to date
with one query: the rows whose ``version`` is above ``V``, the *tombstones* (keys
deleted, with the version of the delete) above ``V``, and the namespace's current
version and history horizon (``DurableNamespace.pruned``).

Every write path of ``DurableSetting`` keeps that history: a row changed in a
transaction carries the version the transaction bumped the namespace to, and a row
deleted (or moved to another namespace or key) leaves a tombstone at that version.

Tombstones older than a configurable age are pruned (:func:`prune`); the horizon
then rises to the newest version pruned, and a snapshot older than the horizon is
reloaded in full. So is one whose version is above the namespace's (the row was
deleted and created again: a new history at a random version).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import timedelta

from django.db import models, transaction
from django.db.models import Max
from django.db.models.functions import Coalesce
from django.utils import timezone

from django_durabledict.upsert import upsert_on_key

# The deletes of a DurableSettingQuerySet.delete() call, collected from post_delete
# so that their tombstones are written in one statement.
_removed: ContextVar[list[tuple[str, str]] | None] = ContextVar(
    "durabledict_removed", default=None
)


@contextmanager
def collecting_removals():
    """Collect the ``(namespace, key)`` of rows deleted inside, instead of writing
    a tombstone per row (see :func:`removed`)."""
    found: list[tuple[str, str]] = []
    token = _removed.set(found)
    try:
        yield found
    finally:
        _removed.reset(token)


def removed(using: str, pairs: Iterable[tuple[str, str]], versions: Mapping) -> None:
    """Record that the ``(namespace, key)`` *pairs* stopped existing at
    ``versions[namespace]``: now, or at the end of :func:`collecting_removals`."""
    pairs = list(pairs)
    found = _removed.get()
    if found is not None:
        found.extend(pairs)
        return
    from django_durabledict.models import DurableTombstone

    DurableTombstone.objects.db_manager(using).record(pairs, versions)


class DurableTombstoneQuerySet(models.QuerySet):
    """Writes and prunes tombstones."""

    def record(self, pairs: Iterable[tuple[str, str]], versions: Mapping) -> None:
        """Upsert a tombstone per ``(namespace, key)``, at its namespace's version."""
        now = timezone.now()
        unique = {
            pair: self.model(
                namespace=pair[0], key=pair[1], version=versions[pair[0]], deleted=now
            )
            for pair in pairs
        }
        if not unique:
            return
        upsert_on_key(self, unique.values(), ["version", "deleted"])

    record.alters_data = True


class DurableTombstoneManager(models.Manager.from_queryset(DurableTombstoneQuerySet)):
    """``DurableTombstone.objects``."""


def prune(namespace: str, max_age: float, using: str) -> int:
    """Delete *namespace*'s tombstones older than *max_age* seconds (and any with a
    lower version), raising its history horizon to match; returns how many went.

    One short transaction that locks the namespace's version row first, as every
    writer does, so it cannot deadlock with them and no delete commits between
    the horizon read and the pruning."""
    from django_durabledict.models import DurableNamespace, DurableTombstone

    cutoff = timezone.now() - timedelta(seconds=max_age)
    namespaces = DurableNamespace.objects.db_manager(using).filter(name=namespace)
    tombstones = DurableTombstone.objects.db_manager(using).filter(namespace=namespace)
    with transaction.atomic(using=using):
        # A write first (SQLite takes its write lock now), which also gives a
        # history without a horizon (NULL) one: the current version.
        if not namespaces.update(pruned=Coalesce("pruned", "version")):
            return 0
        horizon = tombstones.filter(deleted__lt=cutoff).aggregate(top=Max("version"))[
            "top"
        ]
        if horizon is None:
            return 0
        count = tombstones.filter(version__lte=horizon).delete()[0]
        namespaces.filter(pruned__lt=horizon).update(pruned=horizon)
        return count


def forget(namespace: str, version: int, using: str) -> None:
    """Raise the horizon to *version*: every snapshot loaded before it reloads in
    full (after changes made behind the history's back, with raw SQL)."""
    from django_durabledict.models import DurableNamespace

    DurableNamespace.objects.db_manager(using).filter(name=namespace).update(
        pruned=version
    )
