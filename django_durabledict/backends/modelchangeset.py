"""The compare step of a checked changeset on a ModelDict (see changeset.py).

It runs inside the changeset's transaction, after the writers' lock: for
DurableSetting every writer of a namespace first bumps (and so locks) the
namespace's version row, so no other writer commits to the namespace until this
transaction ends; for a user's own model the rows read are locked (a no-op
UPDATE) before they are compared. The rows are read with ``SELECT ... FOR
UPDATE``: under REPEATABLE READ (MariaDB, MySQL) a plain SELECT could answer
from a snapshot taken before the lock, a locking read answers with the rows
committed now.
"""

from __future__ import annotations

from typing import Any

from django_durabledict.base import _MISSING
from django_durabledict.changeset import ChangesetConflict


def compare_locked(durable: Any, expect: Any) -> None:
    """Raise ChangesetConflict unless the rows hold what *expect* lists."""
    rows = durable._rows().select_for_update()
    if not expect.whole:
        rows = rows.filter(**{f"{durable.key_col}__in": list(expect.values)})
    stored = list(rows.values_list(durable.key_col, durable.value_col))
    if durable.return_instances:
        # The snapshot holds rows: compare their stored text with the rows now.
        current = dict(stored)
        seen = {
            key: _MISSING if row is _MISSING else durable._value_of(row)
            for key, row in expect.values.items()
        }
        expect = type(expect)(seen, expect.whole, expect.token)
    else:
        current = durable._decode_items(stored)
    conflicts = expect.conflicts(current)
    if conflicts:
        raise ChangesetConflict(durable, conflicts)
