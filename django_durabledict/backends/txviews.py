"""What a thread inside a database transaction reads from a ModelDict.

The process-wide snapshot only ever holds *committed* values, loaded outside any
transaction. A thread inside a transaction on the dict's database gets its own
*view* instead, created the first time it needs one:

* its own writes show in its view at once, and reach the process-wide snapshot only
  when the transaction commits (an on-commit hook per write), so other threads never
  see a write that may still roll back;
* a write undone by a savepoint rollback disappears from the view (Django drops the
  write's hook; the view notices and reloads inside the transaction);
* when the token changes during the transaction, the view reloads *inside* the
  transaction and shows what that transaction sees. Loading into the shared snapshot
  there would be wrong twice: under REPEATABLE READ (MySQL, MariaDB) the rows can be
  older than the token, and the transaction's own uncommitted rows would leak to
  every thread;
* the view is dropped when the transaction ends. After a rollback nothing of it
  remains anywhere.
"""

from __future__ import annotations

import threading
from typing import Any

from django.db import transaction

from django_durabledict.base import _MISSING, DurableDict


class _View:
    """One thread's view while its connection is inside an atomic block."""

    def __init__(
        self, connection: Any, stored: dict, token: Any, defaults: dict, version: Any
    ):
        self.connection = connection
        self.token = token
        #: The store version the view shows, as write reports name it (None once
        #: it shows what the transaction reads: its own version is unknown).
        self.version = version
        self.defaults = defaults
        self.commits: list[_CommitWrite] = []  # hooks of writes made in this view
        self.mark: Any = None  # the transaction's pending changes when last loaded
        #: Set once the shared snapshot has caught up with this view's committed
        #: transaction (see TransactionViewsMixin._show_committed).
        self.caught_up = False
        # A no-op on-commit hook that identifies the transaction this view belongs
        # to: Django drops it when that transaction ends, committed or rolled back,
        # so a view is never mistaken for the view of the thread's next transaction.
        self.marker = _TransactionMarker()
        transaction.on_commit(self.marker, using=connection.alias)
        self.seen_hooks: Any = connection.run_on_commit
        self.publish(stored, token)

    def in_its_transaction(self) -> bool:
        """True while the transaction the view was made in is still open.

        Django replaces ``run_on_commit`` with a new list when a transaction ends
        and when a savepoint rollback drops hooks, so while the list is the one
        last seen the marker is certainly still there."""
        connection = self.connection
        if not connection.in_atomic_block:
            return False
        hooks = connection.run_on_commit
        if hooks is self.seen_hooks:
            return True
        return any(func is self.marker for _sids, func, _robust in hooks)

    def publish(self, stored: dict, token: Any) -> None:
        self.stored = stored
        self.data = {**self.defaults, **stored} if self.defaults else stored
        self.token = token

    def patch(self, key: Any, value: Any) -> None:
        stored = dict(self.stored)
        if value is _MISSING:
            stored.pop(key, None)
        else:
            stored[key] = value
        self.publish(stored, self.token)

    def lost_a_write(self) -> bool:
        """True when a savepoint rollback dropped the hook of one of our writes.

        Django replaces ``run_on_commit`` with a new list when it drops hooks and
        only appends otherwise, so an unchanged list object means nothing was lost.
        """
        hooks = self.connection.run_on_commit
        if hooks is self.seen_hooks:
            return False
        self.seen_hooks = hooks
        alive = {id(func) for _sids, func, _robust in hooks}
        kept = [hook for hook in self.commits if id(hook) in alive]
        lost = len(kept) != len(self.commits)
        self.commits = kept
        return lost


class _TransactionMarker:
    """The on-commit hook that marks a view's transaction; does nothing."""

    def __call__(self) -> None:
        pass


class _CommitWrite:
    """On commit, shows one write in the process-wide snapshot."""

    def __init__(
        self, owner: TransactionViewsMixin, view: _View, key: Any, value: Any
    ) -> None:
        self.owner, self.view, self.key, self.value = owner, view, key, value

    def __call__(self) -> None:
        self.owner._show_committed(self.view, self.key, self.value)


class TransactionViewsMixin(DurableDict):
    """Routes reads, syncs and own-write patches through the current thread's
    transaction view when there is one. Subclasses set ``using`` and implement
    ``_load_in_transaction(token) -> stored`` and ``_transaction_token(unknown)``."""

    using: str

    def _init_views(self) -> None:
        self._views: dict[int, _View] = {}

    def _reads_need_code(self) -> bool:
        # While any thread has a view, every read must look for its own view.
        return super()._reads_need_code() or bool(self._views)

    # -- Finding the current view ----------------------------------------------

    def _connection(self) -> Any:
        return transaction.get_connection(self.using)

    def _current_view(self) -> _View | None:
        ident = threading.get_ident()
        view = self._views.get(ident)
        if view is None:
            return None
        if not view.in_its_transaction():
            self._views.pop(ident, None)  # its transaction ended
            self._bind_reads()
            if self.last_synced is None:
                # Built inside that transaction: the shared snapshot was never
                # loaded, and the view's rows may not be what was committed.
                self.sync()
            return None
        if view.lost_a_write():
            view.publish(self._load_in_transaction(), view.token)
            view.version = None
        return view

    def _drop_ended_views(self) -> None:
        for ident, view in list(self._views.items()):
            if not view.in_its_transaction():
                self._views.pop(ident, None)
        self._bind_reads()

    # -- Reads: as in DurableDict, plus one check of an (almost always empty) dict

    def __getitem__(self, key: Any) -> Any:
        if self._autosync:
            self._sync(wait=False)
        if self._views and (view := self._current_view()) is not None:
            return view.data[key]
        return self._data[key]

    def get(self, key: Any, default: Any = None) -> Any:
        if self._autosync:
            self._sync(wait=False)
        if self._views and (view := self._current_view()) is not None:
            return view.data.get(key, default)
        return self._data.get(key, default)

    def __contains__(self, key: object) -> bool:
        if self._autosync:
            self._sync(wait=False)
        if self._views and (view := self._current_view()) is not None:
            return key in view.data
        return key in self._data

    def _current(self) -> dict[Any, Any]:
        if self._autosync:
            self._sync(wait=False)
        return self._visible()[0]

    def _visible(self) -> tuple[dict[Any, Any], dict[Any, Any]]:
        """``(data, stored)`` this thread should read now."""
        if self._views and (view := self._current_view()) is not None:
            return view.data, view.stored
        return self._data, self._stored

    # -- Syncing and patching ---------------------------------------------------

    def _sync(self, wait: bool) -> None:
        connection = self._connection()
        if not connection.in_atomic_block:
            if self._views:
                self._drop_ended_views()
            super()._sync(wait)
            return
        view = self._current_view()
        current = view.token if view is not None else self.last_synced
        # Rows this transaction changed itself (through the ORM, the admin) show
        # in the view too: they leave a mark before the token can move.
        mark = self._pending_mark()
        seen = view.mark if view is not None else None
        try:
            token = self._transaction_token(unknown=current)
            if token is not None and token == current and mark == seen:
                return  # unchanged: the view, or the shared snapshot, is current
            if view is None:
                view = self._new_view(connection)
            view.publish(self._load_in_transaction(), self._token_value(token))
            view.version = None
            view.mark = mark
        except self.unavailable_errors as exc:
            self._mark_unavailable(exc)

    def _new_view(self, connection: Any) -> _View:
        view = _View(
            connection,
            dict(self._stored),
            self.last_synced,
            self.defaults,
            self._write_position(),
        )
        self._views[threading.get_ident()] = view
        self._bind_reads()
        return view

    def _patch(self, key: Any, value: Any = _MISSING) -> None:
        connection = self._connection()
        if not connection.in_atomic_block:
            super()._patch(key, value)
            return
        view = self._current_view() or self._new_view(connection)
        report = self._take_report()
        if report is not None and view.version not in report:
            # Our write replaced a version the view does not show: another
            # writer came first. Show what the transaction reads instead of our
            # write over an older state (it holds the namespace's lock now).
            view.publish(self._load_in_transaction(), view.token)
        if report is not None:
            view.version = report[1]
        view.patch(key, value)
        hook = _CommitWrite(self, view, key, value)
        transaction.on_commit(hook, using=self.using)
        view.commits.append(hook)
        view.seen_hooks = connection.run_on_commit
        view.mark = self._pending_mark()  # our own write is in the view already

    def _show_committed(self, view: _View, key: Any, value: Any) -> None:
        """Show a write made in *view*'s transaction, which just committed, in the
        process-wide snapshot: patched in, by default."""
        DurableDict._patch(self, key, value)

    # -- Whole-dict operations that read the snapshot ------------------------------

    def popitem(self) -> tuple[Any, Any]:
        self.sync()
        absent = object()  # not _MISSING: pop() reads that as "no default"
        for key in reversed(list(self._visible()[1])):
            value = self.pop(key, absent)
            if value is not absent:
                return key, value
        raise KeyError("popitem(): dictionary is empty")

    def _load_in_transaction(self) -> dict[Any, Any]:
        raise NotImplementedError

    def _transaction_token(self, unknown: Any) -> Any:
        raise NotImplementedError

    def _token_value(self, token: Any) -> Any:
        """The token to store with values loaded at *token*."""
        return token

    def _pending_mark(self) -> Any:
        """Something that changes whenever the current transaction changes rows
        of this dict, or None when it changed none."""
        raise NotImplementedError
