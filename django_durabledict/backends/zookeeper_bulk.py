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
from typing import Any

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


def apply(
    link: ClientLink,
    root: str,
    data: Mapping[str, bytes],
    removals: Sequence[str],
    acl: Any,
) -> None:
    """Write *data* and delete *removals* under *root* in one transaction.

    Runs under ``client.retry``: after a connection loss it starts again from the
    listing, so a transaction that did commit before the loss is found applied
    (its keys exist, its removals are gone) and is sent again as plain sets."""
    errors = kazoo().exceptions
    for _attempt in range(CONFLICT_ATTEMPTS):
        existing = _children(link, root)
        if existing is None and not data:
            return  # nothing to write, nothing to delete: no root to create
        transaction = link.client.transaction()
        if existing is None:
            _ensure_parent(link, root)
            transaction.create(root, b"", acl)
            existing = set()
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
        failures = [r for r in results if isinstance(r, Exception)]
        if not failures:
            return
        # The op that failed, and the others: RolledBack before it, and
        # RuntimeInconsistency after it (ZooKeeper 3.5 and later).
        conflicts = (
            errors.NodeExistsError,
            errors.NoNodeError,
            errors.RolledBackError,
            errors.RuntimeInconsistency,
        )
        other = [f for f in failures if not isinstance(f, conflicts)]
        if other:
            raise other[0]  # e.g. NoAuthError: nothing was applied
        # A key was created or deleted meanwhile: nothing was applied; list again.
    raise ZookeeperUnavailable(
        f"{root}: other clients kept creating or deleting these keys; nothing of "
        f"the load was applied after {CONFLICT_ATTEMPTS} attempts"
    )


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
