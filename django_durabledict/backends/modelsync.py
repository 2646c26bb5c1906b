"""How a ModelDict on DurableSetting catches up with its namespace.

* **Incremental sync.** The snapshot remembers the namespace version it shows
  (``watch.loaded_version``). A sync after a change reads, in one query, only the
  rows and tombstones above that version (see ``history.py``) and applies them to a
  new snapshot; the decoded values of the other keys are the same objects as
  before. The whole namespace is reloaded when the history does not reach back
  (pruned tombstones), when the version went backwards (a new history), and for
  dicts with ``return_instances`` or on a model of your own (no versions there).
* **A writer's own view.** Each write learns, in its own transaction, the version
  it replaced (``versioning.collecting``). If that is the version the snapshot
  shows, the write is patched in and the snapshot is at the new version; if not,
  another writer came in between, and the changes are loaded instead of patching
  our write onto an older state (which the store never held).
* **Pruning.** Tombstones older than ``tombstone_max_age`` seconds are pruned by
  the dict's own writes, at most once per ``tombstone_max_age / 4`` per process.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from django_durabledict import history, versioning
from django_durabledict.backends.tokenwatch import unwrap
from django_durabledict.base import _MISSING, DurableDict

logger = logging.getLogger("django_durabledict")


class IncrementalMixin(DurableDict):
    """Incremental syncs and write reports for ModelDict (see the module doc)."""

    versioned: bool
    return_instances: bool
    namespace: str
    using: str
    tombstone_max_age: float
    watch: Any
    _connection: Callable[[], Any]
    _query_changes: Callable[[int], Any]

    def _init_incremental(self, tombstone_max_age: float) -> None:
        self.tombstone_max_age = tombstone_max_age
        self._next_prune = 0.0  # prune at the first write, then on a schedule
        self._hint_read: Any = None  # the token read before the current load

    # -- Incremental sync (DurableDict._load_changes) -----------------------------

    def _load_and_publish(self, token: Any) -> tuple[Any, bool]:
        # Lock held. Keeps the token the caller read before the load, so that
        # _load_changes need not read it again (rule 1: token before values).
        self._hint_read = token
        try:
            return super()._load_and_publish(token)
        finally:
            self._hint_read = None

    def _load_changes(self, since: Any) -> tuple[Any, dict[Any, Any]] | None:
        """The changes since the snapshot's database version (not *since*, the
        cache token): one query, or ``None`` (reload in full)."""
        base = self.watch.loaded_version
        if not self.versioned or self.return_instances or base is None:
            return None
        token = self._hint_read
        if token is None:
            token = self.watch.hint(unknown=object())
        found = self._query_changes(base)
        if found is None or not found.reach_back_to(base):
            return None
        removed = [(key, None) for key in found.removed]
        changes = self._decode_changes([*removed, *found.rows])
        self.watch.loaded_version = found.version
        return unwrap(token), changes

    def _catch_up(self, token: Any) -> bool:
        # The report's "token" is a database version: read the cache hint anew.
        return super()._catch_up(None)

    # -- A writer's own view (DurableDict._wrote) ---------------------------------

    def _write_position(self) -> Any:
        return self.watch.loaded_version

    def _adopt_write(self, reported: Any) -> Any:
        # The snapshot is the namespace at *reported*; the cache hint is bumped
        # after commit by a random step, so the token is kept and the next sync
        # asks for the changes since *reported*: none, unless others wrote.
        self.watch.loaded_version = reported
        return self.last_synced

    @contextmanager
    def _reporting(self) -> Iterator[None]:
        """Around one write of this dict: report (``_wrote``) the version it
        replaced, or "unknown" when it bumped nothing. Inside a caller's
        transaction the report goes to the transaction's view, and the snapshot
        catches up when the transaction commits (``_show_committed``)."""
        if not self.versioned:
            yield
            return
        nested = self._connection().in_atomic_block
        with versioning.collecting() as seen:
            yield
        notice = seen.get((self.using, self.namespace))
        if nested:
            if notice is not None:
                self._wrote(notice.replaced, notice.version)
        elif notice is None or not notice.ran:
            self._wrote(None, None)
        else:
            self._wrote(notice.replaced, notice.version)
            self._prune_if_due()

    def _shows(self, key: Any, value: Any) -> bool:
        """Whether the snapshot already shows *value* for *key*: a write that
        changed nothing then has nothing to show, and no report is needed."""
        return self._stored.get(key, _MISSING) == value

    # -- Pruning ------------------------------------------------------------------

    def _prune_if_due(self) -> None:
        now = time.monotonic()
        if now < self._next_prune:
            return
        self._next_prune = now + self.tombstone_max_age / 4
        try:
            history.prune(self.namespace, self.tombstone_max_age, self.using)
        except self.unavailable_errors as exc:
            logger.warning("%s: could not prune tombstones: %s", self, exc)

    def prune_tombstones(self, max_age: float | None = None) -> int:
        """Delete this namespace's tombstones older than *max_age* seconds
        (default ``tombstone_max_age``); returns how many. Syncs that reach back
        past the pruned ones reload in full. Writes call it on a schedule."""
        if not self.versioned:
            return 0
        age = self.tombstone_max_age if max_age is None else max_age
        return history.prune(self.namespace, age, self.using)
