"""Replay a ZooKeeper server's transaction log: the state of one dict at every
transaction that changed it, the oracle of test_zookeeper_history.py.

The format is ZooKeeper's own (``FileTxnLog``, jute records, big-endian): a file
header ``ZKLG``, version, dbid; then per transaction a CRC (8 bytes), a buffer
(int length + bytes; 0 where the preallocated tail starts) and the byte ``B``.
A transaction's bytes are a ``TxnHeader`` (clientId, cxid, zxid, time, type)
and the record of its type. Only what a dict's writes produce is parsed:
create, delete, setData and multi (and the error type, applied as nothing).
"""

from __future__ import annotations

import struct
from pathlib import Path

CREATE, DELETE, SET_DATA, CHECK, MULTI, CREATE2 = 1, 2, 5, 13, 14, 15
CREATE_CONTAINER, CREATE_TTL, ERROR = 19, 21, -1


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data, self.at = data, 0

    def take(self, fmt: str):
        value = struct.unpack_from(fmt, self.data, self.at)
        self.at += struct.calcsize(fmt)
        return value[0]

    def buffer(self) -> bytes | None:
        length = self.take(">i")
        if length < 0:
            return None
        value = self.data[self.at : self.at + length]
        self.at += length
        return value

    def string(self) -> str:
        return (self.buffer() or b"").decode()


def _operation(kind: int, record: _Reader) -> tuple[str, str, bytes | None] | None:
    """``(op, path, data)`` for a change, ``None`` for anything else."""
    if kind in (CREATE, CREATE2, CREATE_CONTAINER, CREATE_TTL):
        path = record.string()
        return "create", path, record.buffer() or b""
    if kind == DELETE:
        return "delete", record.string(), None
    if kind == SET_DATA:
        path = record.string()
        return "set", path, record.buffer() or b""
    return None


def transactions(directory: Path):
    """Every ``(zxid, [(op, path, data)])`` in the logs of *directory*
    (``dataDir/version-2``), in zxid order; failed transactions are skipped."""
    found = []
    for log in sorted(directory.glob("log.*")):
        reader = _Reader(log.read_bytes())
        assert reader.take(">i") == 0x5A4B4C47, f"{log} is not a ZooKeeper log"
        reader.take(">i")
        reader.take(">q")
        while reader.at + 12 <= len(reader.data):
            reader.take(">q")  # the CRC
            entry = reader.buffer()
            if not entry:
                break  # the preallocated, zero-filled tail
            reader.at += 1  # "B"
            txn = _Reader(entry)
            txn.take(">q"), txn.take(">i")
            zxid = txn.take(">q")
            txn.take(">q")
            kind = txn.take(">i")
            found.append((zxid, _operations(kind, txn)))
    return sorted(found)


def _operations(kind: int, txn: _Reader) -> list:
    if kind != MULTI:
        op = _operation(kind, txn)
        return [op] if op else []
    ops = []
    for _ in range(txn.take(">i")):
        inner = txn.take(">i")
        data = txn.buffer() or b""
        if inner == ERROR:
            return []  # a failed multi-op: nothing applied
        op = _operation(inner, _Reader(data))
        if op:
            ops.append(op)
    return ops


def dict_versions(directory: Path, root: str):
    """``[(zxid, {key: data})]``: the dict at *root* after each transaction that
    touched it (the root itself or a child)."""
    state: dict[str, bytes] = {}
    versions = []
    for zxid, ops in transactions(directory):
        touched = False
        for op, path, data in ops:
            if path == root:
                touched = True
                if op == "delete":
                    state = {}
            elif path.startswith(root + "/") and "/" not in path[len(root) + 1 :]:
                touched = True
                name = path[len(root) + 1 :]
                if op == "delete":
                    state.pop(name, None)
                else:
                    state[name] = data
        if touched:
            versions.append((zxid, dict(state)))
    return versions
