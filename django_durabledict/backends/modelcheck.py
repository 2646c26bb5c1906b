"""What a ModelDict's table would refuse in a bulk load, found before writing.

Used by ``ModelDict._check_apply`` (durabledict_load validates with it). Three
kinds of problem:

* a key longer than its column (``max_length``), or a value longer than a value
  column that has one: SQLite would store it, PostgreSQL and MariaDB refuse it;
* a NUL character on PostgreSQL, which cannot store one in text;
* two keys the database holds as one. MariaDB and MySQL compare text with the
  column's collation, which by default ignores case, accents and trailing spaces:
  ``"Feature"`` would overwrite the row of ``"feature"`` (an upsert matches it),
  and pruning ``"feature"`` in the same load would then delete both. The database
  itself groups the keys under the key column's collation, so its exact rules apply.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from django.db import connections

_IDENTIFIER = re.compile(r"[A-Za-z0-9_]+")


def problems(durable: Any, encoded: Mapping[Any, Any], removals: Iterable[Any]):
    """One sentence per key or value of a bulk write the table would refuse."""
    meta = durable.model._meta
    key_field = meta.get_field(durable.key_col)
    value_field = meta.get_field(durable.value_col)
    vendor = connections[durable.using].vendor
    found = []
    for key, value in encoded.items():
        found += _text_problems(f"key {key!r}", key, key_field, vendor)
        found += _text_problems(f"the value of {key!r}", value, value_field, vendor)
    if vendor == "mysql" and encoded:
        found += _collisions(durable, key_field, list(encoded))
    return found


def _text_problems(what: str, text: Any, field: Any, vendor: str) -> list[str]:
    if not isinstance(text, str):
        return [f"{what} is a {type(text).__name__}; this table stores text"]
    found = []
    limit = getattr(field, "max_length", None)
    if limit is not None and len(text) > limit:
        found.append(
            f"{what} is {len(text)} characters long; the column "
            f"{field.model._meta.db_table}.{field.column} holds {limit}"
        )
    if vendor == "postgresql" and "\x00" in text:
        found.append(f"{what} contains a NUL character, which PostgreSQL refuses")
    return found


def _collisions(durable: Any, key_field: Any, new_keys: list[str]) -> list[str]:
    stored = durable._rows().values_list(durable.key_col, flat=True)
    keys = list(dict.fromkeys([*new_keys, *stored]))
    with connections[durable.using].cursor() as cursor:
        collation = _column_collation(cursor, key_field)
        if collation is None:
            return []
        charset, name = collation
        rows = " UNION ALL ".join(["SELECT %s AS i, %s AS k"] * len(keys))
        cursor.execute(
            f"SELECT MIN(i), MAX(i) FROM ({rows}) AS loaded GROUP BY "
            f"CONVERT(k USING {charset}) COLLATE {name} HAVING COUNT(*) > 1",
            [part for pair in enumerate(keys) for part in pair],
        )
        pairs = cursor.fetchall()
    return [
        f"keys {keys[first]!r} and {keys[last]!r} are one key for the database "
        f"(collation {name} of {key_field.column}); a load cannot hold both"
        for first, last in pairs
    ]


def _column_collation(cursor: Any, field: Any) -> tuple[str, str] | None:
    """``(charset, collation)`` of *field*'s column, ``None`` if unknown."""
    cursor.execute(
        "SELECT CHARACTER_SET_NAME, COLLATION_NAME FROM information_schema.COLUMNS "
        "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s AND COLUMN_NAME = %s",
        [field.model._meta.db_table, field.column],
    )
    row = cursor.fetchone()
    # Even binary collations pad trailing spaces on MariaDB: always ask the database.
    if not row or not all(row) or not all(_IDENTIFIER.fullmatch(p) for p in row):
        return None
    return row[0], row[1]
