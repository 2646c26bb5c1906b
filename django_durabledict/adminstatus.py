"""The rows of the admin's status page (``DurableSettingAdmin.status_view``).

One row per configured dict, from this process (the admin's own worker) and its
store, and the latest admin changes to ``DurableSetting`` rows with who made them.
Values are never shown here: only versions, ages, health and the change messages
the admin history already holds.
"""

from __future__ import annotations

from typing import Any

from django.contrib.admin.models import LogEntry
from django.contrib.contenttypes.models import ContentType

from django_durabledict.models import DurableSetting
from django_durabledict.overview import DictReport, reports
from django_durabledict.statustext import describe_age

#: Changes listed under the dicts.
RECENT_CHANGES = 20


def dict_rows() -> list[dict[str, Any]]:
    return [_row(report) for report in reports()]


def _row(report: DictReport) -> dict[str, Any]:
    row: dict[str, Any] = {
        "name": report.name,
        "backend": report.backend.rpartition(".")[2],
        "backend_path": report.backend,
        "health": report.health,
        "error": report.error,
    }
    status, store = report.status, report.store
    if status is None:
        return row
    snapshot = store.snapshot if store is not None else status.token
    row.update(
        snapshot_version=snapshot,
        snapshot_age=describe_age(status.snapshot_age),
        sync_age=describe_age(status.sync_age),
        keys=status.keys,
        reloads=status.full_reloads + status.incremental_reloads,
        decode_errors=sorted(status.decode_errors),
        last_error=status.last_error,
        stale_for=describe_age(status.stale_for) if status.stale_since else None,
    )
    if store is not None:
        row.update(
            store_version=store.version,
            store_error=store.error,
            store_age=describe_age(store.age) if store.changed_at else None,
            in_sync=store.in_sync,
        )
    return row


def recent_changes(limit: int = RECENT_CHANGES) -> list[LogEntry]:
    """The latest admin history entries of DurableSetting rows, with their users:
    one query, whatever *limit* is."""
    content_type = ContentType.objects.get_for_model(DurableSetting)
    entries = (
        LogEntry.objects.filter(content_type=content_type)
        .select_related("user")
        .order_by("-action_time", "-pk")[:limit]
    )
    return [_with_namespace(entry) for entry in entries]


def _with_namespace(entry: LogEntry) -> LogEntry:
    # DurableSetting.__str__ is "namespace: key"; the entry outlives the row.
    entry.namespace = entry.object_repr.partition(": ")[0]  # type: ignore[attr-defined]
    return entry
