"""One bulk upsert of rows unique on (namespace, key), on every database."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import connections


def upsert_on_key(queryset: Any, objs: Iterable[Any], update_fields: list[str]) -> None:
    """Insert *objs*, or update *update_fields* of the rows with their (namespace,
    key), in one statement."""
    features = connections[queryset.db].features
    queryset.bulk_create(
        list(objs),
        update_conflicts=True,
        update_fields=update_fields,
        # MySQL and MariaDB upsert on any unique key and refuse a target.
        unique_fields=(
            ["namespace", "key"]
            if features.supports_update_conflicts_with_target
            else None
        ),
    )
