"""The ZooKeeper operations behind a ZookeeperDict, each atomic on the server.

Each function is meant to run under ``client.retry(...)``: after a connection
loss kazoo runs it again from the start, so each is written to be safe to repeat.
*link* is the dict's :class:`~django_durabledict.backends.zookeeper_client.ClientLink`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from django_durabledict.backends.zookeeper_client import ClientLink, kazoo

#: Returned by :func:`take` when the key was absent.
ABSENT: Any = object()


def put(link: ClientLink, path: str, data: bytes, acl: Any, exists: bool) -> None:
    """Store *data* at *path*: a new node is created with its data in one
    operation, so no reader ever sees it empty; an existing one is set.

    Tries what *exists* suggests first (one round trip in the usual case); a
    concurrent create or delete sends it round again."""
    client, errors = link.client, kazoo().exceptions
    while True:
        if exists:
            try:
                link.call(client.set_async, path, data)
                return
            except errors.NoNodeError:
                pass
        try:
            create(link, path, data, acl)
            return
        except errors.NodeExistsError:
            exists = True


def create(link: ClientLink, path: str, data: bytes, acl: Any) -> None:
    """Create the key's node *path* with *data*, creating the dict's root first
    if it is missing. The root and keys get *acl*; missing parents above the
    root get the client's default ACL, so a restrictive ACL on one dict does not
    stop other dicts from creating their roots beside it."""
    client, errors = link.client, kazoo().exceptions
    try:
        link.call(client.create_async, path, data, acl)
    except errors.NoNodeError:
        root = path.rsplit("/", 1)[0]
        parent = root.rsplit("/", 1)[0]
        if parent:
            link.call(client.ensure_path_async, parent)
        with contextlib.suppress(errors.NodeExistsError):
            link.call(client.create_async, root, b"", acl)
        link.call(client.create_async, path, data, acl)


def delete(link: ClientLink, path: str) -> None:
    """Delete *path*; ``NoNodeError`` if it does not exist."""
    link.call(link.client.delete_async, path)


def take(link: ClientLink, path: str, sent: list[bytes]) -> Any:
    """Delete *path* and return the data deleted, or :data:`ABSENT`.

    The delete names the version read, so the data returned is exactly the data
    removed, whatever other clients do. *sent* outlives kazoo's retries: if the
    connection dropped after a delete was sent and the node is gone on the retry,
    that delete most likely landed, and reporting "absent" would lose the value."""
    client, errors = link.client, kazoo().exceptions
    while True:
        try:
            data, stat = link.call(client.get_async, path)
        except errors.NoNodeError:
            return sent[-1] if sent else ABSENT
        sent[:] = [data]
        try:
            link.call(client.delete_async, path, stat.version)
            return data
        except errors.BadVersionError:
            sent.clear()  # changed since read: take the newer value
        except errors.NoNodeError:
            return ABSENT  # another client took it first


def create_or_get(
    link: ClientLink, path: str, data: bytes, acl: Any, exists: bool
) -> bytes:
    """Create *path* with *data* unless it exists; return the data it holds."""
    client, errors = link.client, kazoo().exceptions
    while True:
        if not exists:
            try:
                create(link, path, data, acl)
                return data
            except errors.NodeExistsError:
                pass
        try:
            return link.call(client.get_async, path)[0]
        except errors.NoNodeError:
            exists = False  # deleted in between: try creating again


def read_all(
    link: ClientLink, root: str, watch: Callable[[Any], None]
) -> tuple[int, list[tuple[str, bytes]], list[str]]:
    """``(zxid, [(name, data)], unreadable names)`` for every child of *root*.

    Arms *watch* on the root's children and on every child's data (or, when the
    root is missing, on its creation), with the same reads. Pipelined: one round
    trip for the children, then all values at once. A child deleted after the
    listing is left out: the children watch has fired for it. Never waits for a
    reconnection."""
    client, errors = link.client, kazoo().exceptions
    link.wait_connected(0)
    try:
        names, stat = link.wait(client.get_children_async(root, watch, True))
    except errors.NoNodeError:
        return _read_missing_root(link, root, watch)
    pending = [(name, client.get_async(f"{root}/{name}", watch)) for name in names]
    zxid, items, unreadable = max(stat.czxid, stat.pzxid), [], []
    for name, result in pending:
        try:
            data, stat = link.wait(result)
        except errors.NoNodeError:
            continue
        except errors.NoAuthError:
            unreadable.append(name)
            continue
        zxid = max(zxid, stat.mzxid)
        items.append((name, data))
    return zxid, items, unreadable


def _read_missing_root(link: ClientLink, root: str, watch: Callable[[Any], None]):
    # No root is an empty dict. The exists watch fires when it is created; if that
    # happened between the two calls, kazoo's retry reads again.
    if link.wait(link.client.exists_async(root, watch)) is None:
        return 0, [], []
    raise kazoo().ForceRetryError(f"{root} was created while being read")


def read_changed(
    link: ClientLink,
    root: str,
    watch: Callable[[Any], None],
    names: set[str],
    known: set[str] | None,
) -> tuple[list[str] | None, int, list[tuple[str, bytes | None]], list[str]]:
    """``(children, zxid, [(name, data or None)], unreadable names)``: what an
    incremental sync reads. Each name in *names* is read again (``None``: gone),
    re-arming its data watch. With *known* (the children as of the snapshot), the
    root's children are listed too, re-arming the children watch, and every new
    child is read; *children* is then the listing, else ``None``.

    Pipelined: the listing and the reads of *names* go out together, the reads of
    new children after. ``NoNodeError`` when the root is gone (a full reload
    handles that). Never waits for a reconnection."""
    client, errors = link.client, kazoo().exceptions
    link.wait_connected(0)
    listing = None if known is None else client.get_children_async(root, watch, True)
    pending = {name: client.get_async(f"{root}/{name}", watch) for name in names}
    children, zxid = None, 0
    if listing is not None:
        children, stat = link.wait(listing)
        zxid = max(stat.czxid, stat.pzxid)
        for name in set(children) - known - names:
            pending[name] = client.get_async(f"{root}/{name}", watch)
    items, unreadable = [], []
    for name, result in pending.items():
        try:
            data, stat = link.wait(result)
        except errors.NoNodeError:
            items.append((name, None))
            continue
        except errors.NoAuthError:
            unreadable.append(name)
            items.append((name, None))
            continue
        zxid = max(zxid, stat.mzxid)
        items.append((name, data))
    return children, zxid, items, unreadable
