"""How a change to a ModelDict's table reaches every reader.

Two versions, with different jobs (see DESIGN.md, "The sync protocol"):

* the *authoritative* one, for ``DurableSetting``: ``DurableNamespace.version``,
  bumped inside the writer's transaction, so it commits or rolls back with the data;
* the *hint*: an integer in a Django cache (``backends/cachetoken.py``) that
  readers poll on every sync. It is bumped only *after* the transaction
  commits: bumped earlier, a reader could reload before the data is visible and
  keep the old rows under the new token.

:func:`record_change` does both for ``DurableSetting``; :func:`notify_after_commit`
does the second for any table (``ModelDict.touch_last_updated``).

Inside a transaction a change is recorded once per namespace: the on-commit hook
registered for the first write is found again (:func:`pending_notice`) and reused,
so a transaction writing 100 keys bumps each version once.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
import weakref
from collections import defaultdict
from collections.abc import Iterable
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from django.db import transaction

from django_durabledict.backends.cachetoken import CacheToken, bump_later, client_errors

logger = logging.getLogger("django_durabledict")

_SAFE_PART = re.compile(r"[A-Za-z0-9_.\-]{1,60}")

# Tokens of the ModelDicts alive in this process, by cache key (weak: a dict that
# is gone stops being notified), and the caches track_model() named, by table.
_live: defaultdict[str, weakref.WeakSet] = defaultdict(weakref.WeakSet)
_tracked: defaultdict[str, dict[Any, bool]] = defaultdict(dict)
_lock = threading.Lock()


def token_key(using: str, table: str, namespace: str | None = None) -> str:
    """The cache key of a dict's token: ``durabledict:<db>:<table>[:<ns>]:version``.

    Parts that are long or hold characters memcached refuses (spaces, colons,
    non-ASCII) are replaced by a hash, so the key is always valid and unambiguous.
    """
    parts = [using, table] + ([] if namespace is None else [namespace])
    if all(_SAFE_PART.fullmatch(part) for part in parts):
        return "durabledict:{}:version".format(":".join(parts))
    digest = hashlib.sha256("\0".join(parts).encode()).hexdigest()[:40]
    return f"durabledict:{digest}:version"


def watch(token: CacheToken) -> None:
    """Bump *token* whenever this process commits a change under its key, for as
    long as *token* is alive."""
    with _lock:
        _live[token.key].add(token)


class ChangeNotice:
    """The on-commit hook of one transaction's changes to one dict's rows."""

    def __init__(self, using: str, table: str, namespace: str | None) -> None:
        self.using, self.table, self.namespace = using, table, namespace
        self.key = token_key(using, table, namespace)
        self.ran = False
        #: How many changes this hook stands for, so far: lets a dict inside the
        #: transaction tell that rows changed since it last loaded them.
        self.changes = 1
        #: For a DurableSetting namespace: the version this transaction replaced
        #: (``None`` if it created the namespace) and the one it set.
        self.replaced: int | None = None
        self.version: int | None = None

    def __call__(self) -> None:
        self.ran = True  # the data is committed, whatever happens to the bumps
        for token in self.tokens():
            try:
                token.bump()
            except client_errors() as exc:
                bump_later(token)
                logger.warning(
                    "durabledict: could not bump %s after a commit (%s); readers "
                    "see the change when the cache answers again or at their next "
                    "backstop check",
                    token,
                    exc,
                )

    def tokens(self) -> list[CacheToken]:
        with _lock:
            found = list(_live.get(self.key, ()))
            tracked = list(_tracked.get(self.table, ()))
        found += [CacheToken(cache, self.key) for cache in tracked]
        if self.namespace is not None:
            found += configured_tokens(self.using, self.namespace)
        unique = {token.identity: token for token in found}
        return list(unique.values())


def configured_tokens(using: str, namespace: str) -> list[CacheToken]:
    """Tokens of the DURABLEDICTS entries bound to a DurableSetting namespace, so a
    process that never built those dicts (the admin, a shell) still bumps them."""
    from django_durabledict.conf import DurableDictConfigError, app_settings

    tokens = []
    for name in app_settings.names():
        try:
            backend = app_settings.backend(name)
        except DurableDictConfigError:
            continue  # the system checks report it
        binding = getattr(backend, "setting_binding", None)
        found = binding(name, app_settings.entry(name), using) if binding else None
        if found and found[0] == namespace:
            tokens.append(CacheToken(found[1], setting_token_key(using, namespace)))
    return tokens


def setting_token_key(using: str, namespace: str) -> str:
    from django_durabledict.models import DurableSetting

    return token_key(using, DurableSetting._meta.db_table, namespace)


def pending_notice(using: str, key: str) -> ChangeNotice | None:
    """The notice of the current transaction on *using* for *key*, if one is
    registered and will run whenever the current code's changes commit."""
    connection = transaction.get_connection(using)
    if not connection.in_atomic_block:
        return None
    # A hook registered inside a savepoint is dropped if that savepoint rolls
    # back. Reusing it is safe only if every such savepoint is still open, i.e.
    # encloses the code running now: rolling it back would undo us too. (None
    # stands for an atomic block without a savepoint, which never rolls back on
    # its own.)
    open_savepoints = {*connection.savepoint_ids, None}
    for savepoints, func, _robust in connection.run_on_commit:
        if (
            isinstance(func, ChangeNotice)
            and func.key == key
            and savepoints <= open_savepoints
        ):
            return func
    return None


def notify_after_commit(
    using: str, table: str, namespace: str | None = None
) -> ChangeNotice:
    """Bump the tokens of *table* (and *namespace*) once the current transaction
    on *using* commits, or now outside a transaction; returns the notice."""
    key = token_key(using, table, namespace)
    notice = pending_notice(using, key)
    if notice is None:
        notice = ChangeNotice(using, table, namespace)
        transaction.on_commit(notice, using=using, robust=True)
    else:
        notice.changes += 1
    return notice


def record_change(names: Iterable[str], using: str) -> list[ChangeNotice]:
    """Record a change to DurableSetting namespaces *names* on database *using*.

    Bumps each namespace's authoritative version in the current transaction (once
    per transaction) and its cache token after commit. Call it inside the
    transaction that writes the rows, before writing them."""
    from django_durabledict.models import DurableNamespace, DurableSetting

    table = DurableSetting._meta.db_table
    notices, fresh = [], []
    for name in sorted(set(names)):
        notice = pending_notice(using, token_key(using, table, name))
        if notice is None:
            fresh.append(name)
        else:
            notice.changes += 1
            notices.append(notice)
    if fresh:
        bumped = DurableNamespace._default_manager.db_manager(using).bump(fresh)
        for name in fresh:
            notice = notify_after_commit(using, table, name)
            notice.replaced, notice.version = bumped[name]
            notices.append(notice)
    seen = _seen.get()
    if seen is not None:
        seen.update({(using, notice.namespace): notice for notice in notices})
    return notices


def versions(notices: Iterable[ChangeNotice]) -> dict[str, int]:
    """``{namespace: version}`` of notices returned by :func:`record_change`: the
    version each namespace's rows changed in this transaction carry."""
    return {notice.namespace: notice.version for notice in notices}  # type: ignore[misc]


# The notices record_change() returned inside collecting(), by (database, namespace).
_seen: ContextVar[dict[tuple[str, str], ChangeNotice] | None] = ContextVar(
    "durabledict_seen", default=None
)


@contextmanager
def collecting():
    """Collect, by ``(database, namespace)``, the notice of every DurableSetting
    change recorded inside: tells a ModelDict which version its write replaced,
    whichever path (``save()``, a queryset call) made it. An enclosing
    ``collecting()`` sees them too."""
    seen: dict[tuple[str, str], ChangeNotice] = {}
    outer = _seen.get()
    token = _seen.set(seen)
    try:
        yield seen
    finally:
        _seen.reset(token)
        if outer is not None:
            outer.update(seen)


def track_model(model: Any, cache: Any = "default", namespaced: bool = False) -> None:
    """Bump the token in *cache* after every ``post_save`` and ``post_delete`` of
    *model* (a user's own model; DurableSetting needs nothing), in this process.

    Call it once at start-up (``AppConfig.ready``) in every process that writes
    the model, including ones that never build the dict. With *namespaced*, the
    token of the row's ``namespace`` is bumped."""
    from django.db.models.signals import post_delete, post_save

    table = model._meta.db_table
    with _lock:
        _tracked[table][cache] = namespaced

    def changed(sender: Any, instance: Any, using: str, **kwargs: Any) -> None:
        namespace = instance.namespace if namespaced else None
        notify_after_commit(using, table, namespace)

    uid = f"durabledict_track_{table}_{namespaced}"
    post_save.connect(changed, sender=model, weak=False, dispatch_uid=uid)
    post_delete.connect(changed, sender=model, weak=False, dispatch_uid=uid)
