"""What ZooKeeper accepts as a znode name, a znode path and znode data.

Checked here, before any call, so a bad key fails with a clear ``ValueError`` and
changes nothing, instead of a server error after part of an operation, or a dropped
connection (an oversized request makes the server close the connection, which
suspends every user of that client).
"""

from __future__ import annotations

import re
from typing import Any

from django_durabledict.encoding import EncodingError

# The server's PathUtils.validatePath refuses these characters in any name. It
# checks Java's UTF-16 code units, so every character outside the Basic
# Multilingual Plane (stored as a surrogate pair in D800-DFFF) is refused too.
_FORBIDDEN = re.compile(
    "[\x00-\x1f\x7f-\x9f\ud800-\uf8ff\ufff0-\uffff\U00010000-\U0010ffff]"
)

#: ``zookeeper`` is reserved at the top level (``/zookeeper``); refused as a key
#: everywhere so a dict behaves the same whatever its root.
RESERVED_NAMES = frozenset({"", ".", "..", "zookeeper"})

#: A request larger than ``jute.maxbuffer`` (0xfffff bytes by default) makes the
#: server drop the connection. Path plus data must fit under this, leaving room for
#: the request header and ACLs.
MAX_REQUEST_BYTES = 1_000_000


def validate_name(name: Any, what: str = "key") -> str:
    """Return *name* if it can be one znode name; raise ``ValueError`` if not."""
    if not isinstance(name, str):
        raise ValueError(
            f"ZookeeperDict {what}s must be str, not {type(name).__name__}: {name!r}"
        )
    if name in RESERVED_NAMES:
        raise ValueError(f"{name!r} cannot be a ZookeeperDict {what}: it is reserved")
    if "/" in name:
        raise ValueError(f"ZookeeperDict {what} {name!r} contains '/'")
    match = _FORBIDDEN.search(name)
    if match:
        raise ValueError(
            f"ZookeeperDict {what} {name!r} contains U+{ord(match.group()):04X}, "
            "which ZooKeeper does not allow in znode names"
        )
    return name


def validate_path(path: Any) -> str:
    """Return *path* if it is an absolute znode path other than ``/`` (the
    ZooKeeper root holds the system node ``/zookeeper``)."""
    if not isinstance(path, str) or not path.startswith("/") or path == "/":
        raise ValueError(
            f"the keyspace must be an absolute znode path such as '/durabledict/x', "
            f"not {path!r}"
        )
    if path.endswith("/"):
        raise ValueError(f"the keyspace {path!r} must not end with '/'")
    names = path[1:].split("/")
    if names[0] == "zookeeper":
        raise ValueError(f"the keyspace {path!r} is inside ZooKeeper's /zookeeper")
    for name in names:
        if name != "zookeeper":  # allowed below the top level
            validate_name(name, "keyspace component")
    return path


def to_bytes(encoded: Any, path: str) -> bytes:
    """Znode data for an encoded value: text as UTF-8 (JSON text, or the ASCII of a
    base64 pickle), bytes as given. Raise ``EncodingError`` if it cannot be stored
    at *path*; nothing has been written then."""
    if isinstance(encoded, str):
        data = encoded.encode("utf-8")
    elif isinstance(encoded, (bytes, bytearray, memoryview)):
        data = bytes(encoded)
    else:
        raise EncodingError(
            f"the encoding returned {type(encoded).__name__}; ZooKeeper stores "
            "str or bytes"
        )
    size = len(data) + len(path.encode("utf-8"))
    if size > MAX_REQUEST_BYTES:
        raise EncodingError(
            f"{path}: {len(data)} bytes of data is too large for one znode (path "
            f"and data must stay under {MAX_REQUEST_BYTES} bytes, below ZooKeeper's "
            "jute.maxbuffer)"
        )
    return data
