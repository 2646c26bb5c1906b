"""ZookeeperDict's bulk write: many keys in one ZooKeeper multi-op transaction.

A multi-op is applied by the ensemble as one transaction (one zxid): every other
client sees all of it or none of it. ZooKeeper does not wait for a multi-op, nor
queue it, as it does not for any request: it either applies all its operations
or fails them all, so :func:`apply` reads which keys exist, builds the operations
(``create`` for a new key, ``set_data`` for an existing one, ``delete``), and, if
another client created or deleted one of those keys in between, reads again and
retries.

The whole transaction is one request and must stay under ``jute.maxbuffer``: a
larger one makes the server drop the connection. :func:`problems` refuses it
before anything is sent.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from django_durabledict.backends.znode import (
    MAX_REQUEST_BYTES,
    to_bytes,
    validate_name,
)
from django_durabledict.backends.zookeeper_client import (
    ClientLink,
    ZookeeperUnavailable,
    kazoo,
)

#: Bytes one operation adds to a request besides its path and data: the multi
#: header, length prefixes, version or flags, and one ACL entry (more per entry).
OP_OVERHEAD = 64
ACL_OVERHEAD = 48
#: Attempts when other clients keep creating or deleting the same keys.
CONFLICT_ATTEMPTS = 10


def request_size(root: str, data: Mapping[str, bytes], removals: Sequence[str]) -> int:
    """An upper estimate of the bytes of the transaction's request."""
    size = 0
    for key, value in data.items():
        size += len(f"{root}/{key}".encode()) + len(value) + OP_OVERHEAD + ACL_OVERHEAD
    for key in removals:
        size += len(f"{root}/{key}".encode()) + OP_OVERHEAD
    return size + len(root.encode()) + OP_OVERHEAD + ACL_OVERHEAD  # the root


def problems(root: str, encoded: Mapping[Any, Any], removals: Sequence[Any]):
    """One sentence per key, value, or transaction size ZooKeeper would refuse."""
    found, data = [], {}
    for key, value in encoded.items():
        try:
            validate_name(key)
            data[key] = to_bytes(value, f"{root}/{key}")
        except ValueError as exc:  # EncodingError is a ValueError
            found.append(str(exc))
    size = request_size(root, data, [str(key) for key in removals])
    if not found and size > MAX_REQUEST_BYTES:
        found.append(
            f"the load writes about {size} bytes, more than one ZooKeeper "
            f"transaction can carry ({MAX_REQUEST_BYTES} bytes, below "
            "jute.maxbuffer): load fewer or smaller values at a time"
        )
    return found


class Guard(Protocol):
    """What a checked changeset (changeset.py) read: ``keys(existing)`` names
    the stored keys to compare, ``absent()`` the keys it saw absent, and
    ``verify({key: data})`` raises ChangesetConflict on a difference;
    :func:`apply` keeps the data versions it read in ``versions``."""

    versions: dict[str, int]

    def keys(self, existing: set[str]) -> list[str]: ...

    def absent(self) -> list[str]: ...

    def verify(self, current: dict[str, bytes]) -> None: ...


def apply(
    link: ClientLink,
    root: str,
    data: Mapping[str, bytes],
    removals: Sequence[str],
    acl: Any,
    guard: Guard | None = None,
) -> None:
    """Write *data* and delete *removals* under *root* in one transaction.

    Runs under ``client.retry``: after a connection loss it starts again from the
    listing, so a transaction that did commit before the loss is found applied
    (its keys exist, its removals are gone) and is sent again as plain sets.

    With a *guard*, the keys it names are read and verified first, and the
    transaction holds a ``check`` of each one's data version (a key seen absent
    and not created here: a ``create`` and ``delete`` of it, which fail if it
    exists), so it commits only if none of them changed after they were read."""
    errors = kazoo().exceptions
    for _attempt in range(CONFLICT_ATTEMPTS):
        existing = _children(link, root)
        transaction = link.client.transaction()
        if guard is not None and not _guarded(link, root, guard, existing, data):
            continue  # a key read vanished between the listing and its read
        if existing is None and not data:
            return  # nothing to write, nothing to delete: no root to create
        if existing is None:
            _ensure_parent(link, root)
            transaction.create(root, b"", acl)
            existing = set()
        if guard is not None:
            _add_checks(transaction, root, guard, existing, data)
        for key, value in data.items():
            path = f"{root}/{key}"
            if key in existing:
                transaction.set_data(path, value)
            else:
                transaction.create(path, value, acl)
        for key in removals:
            if key in existing:
                transaction.delete(f"{root}/{key}")
        if not transaction.operations:
            return
        results = link.wait(transaction.commit_async())
        # The operation that failed has its error; the others are reported as
        # rolled back (before it) or RuntimeInconsistency (after it).
        knock_on = (errors.RolledBackError, errors.RuntimeInconsistency)
        failures = [
            r
            for r in results
            if isinstance(r, Exception) and not isinstance(r, knock_on)
        ]
        if not any(isinstance(r, Exception) for r in results):
            return
        conflicts = (errors.NodeExistsError, errors.NoNodeError, errors.BadVersionError)
        other = [f for f in failures if not isinstance(f, conflicts)]
        if other:
            raise other[0]  # e.g. NoAuthError: nothing was applied
        # A key was created or deleted meanwhile: nothing was applied; list again.
    raise ZookeeperUnavailable(
        f"{root}: other clients kept creating or deleting these keys; nothing of "
        f"the load was applied after {CONFLICT_ATTEMPTS} attempts"
    )


def _guarded(link: ClientLink, root: str, guard: Guard, existing, data) -> bool:
    """Read the guard's keys (pipelined), verify them, and remember their data
    versions for :func:`_add_checks`; False when one vanished meanwhile."""
    errors = kazoo().exceptions
    keys = guard.keys(existing or set())
    pending = [(key, link.client.get_async(f"{root}/{key}")) for key in keys]
    current, guard.versions = {}, {}
    try:
        for key, result in pending:
            current[key], stat = link.wait(result)
            guard.versions[key] = stat.version
    except errors.NoNodeError:
        return False
    guard.verify(current)
    return True


def _add_checks(transaction, root: str, guard: Guard, existing, data) -> None:
    # Checks first: the multi-op applies its operations in order.
    for key, version in guard.versions.items():
        transaction.check(f"{root}/{key}", version)
    for key in guard.absent():
        if key not in existing and key not in data:
            transaction.create(f"{root}/{key}", b"")
            transaction.delete(f"{root}/{key}")


def _children(link: ClientLink, root: str) -> set[str] | None:
    try:
        return set(link.call(link.client.get_children_async, root))
    except kazoo().exceptions.NoNodeError:
        return None


def _ensure_parent(link: ClientLink, root: str) -> None:
    # Parents above the root get the client's default ACL, as in zookeeper_ops.
    # Creating them is not part of the transaction, and shows nothing to readers
    # of this dict: its root does not exist until the transaction commits.
    parent = root.rsplit("/", 1)[0]
    if parent:
        link.call(link.client.ensure_path_async, parent)
