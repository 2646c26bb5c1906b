"""How values are turned into what a store holds, and back.

An encoding is any object (or class) with ``encode(value)`` and ``decode(stored)``.
The ones here are classes whose methods are classmethods, so they work whether they
are passed as the class (as the original durabledict did) or as an instance.

Every failure inside a codec surfaces as :class:`EncodingError` or
:class:`DecodingError`, both ``ValueError`` subclasses, so callers need to catch one
family of exceptions whatever the encoding.
"""

from __future__ import annotations

import base64
import json
import pickle
from typing import Any


class EncoderError(ValueError):
    """A value could not be encoded or decoded."""


class EncodingError(EncoderError):
    """A value could not be encoded; nothing was written."""


class DecodingError(EncoderError):
    """A stored value could not be decoded."""


class Encoding:
    """Base for the built-in encodings: subclasses implement ``_encode``/``_decode``.

    Any exception raised by a codec is re-raised as ``EncodingError`` or
    ``DecodingError`` with the original chained, so no codec-specific exception
    (``binascii.Error``, ``EOFError``, ``UnicodeDecodeError`` …) leaks out.
    """

    @classmethod
    def encode(cls, value: Any) -> Any:
        try:
            return cls._encode(value)
        except Exception as exc:
            raise EncodingError(
                f"{cls.__name__} cannot encode {type(value).__name__}: {exc}"
            ) from exc

    @classmethod
    def decode(cls, stored: Any) -> Any:
        try:
            return cls._decode(stored)
        except Exception as exc:
            raise DecodingError(
                f"{cls.__name__} cannot decode stored value: {exc}"
            ) from exc

    @staticmethod
    def _encode(value: Any) -> Any:
        raise NotImplementedError

    @staticmethod
    def _decode(stored: Any) -> Any:
        raise NotImplementedError


class JSONEncoding(Encoding):
    """Plain JSON text (``str``); decodes ``str`` or UTF-8 ``bytes``.

    The default: safe to decode whoever wrote it, and readable in the admin.
    NaN and infinities are refused because other JSON readers reject them.
    Tuples come back as lists and dict keys as strings, as with any JSON.
    """

    @staticmethod
    def _encode(value: Any) -> str:
        return json.dumps(value, ensure_ascii=False, allow_nan=False)

    @staticmethod
    def _decode(stored: Any) -> Any:
        return json.loads(stored)


class PickleEncoding(Encoding):
    """Base64 text of a pickle: the original durabledict's default wire format.

    .. warning::
       Decoding a pickle runs code chosen by whoever wrote it. Use this encoding
       only when every client that can write to the store (the database, the cache
       or Redis server, the ZooKeeper ensemble) is fully trusted. JSON is the default
       for that reason.

    Encodes to ASCII ``str`` with a newline every 76 characters, as the original did;
    decodes ``str`` or ``bytes``, with or without the newlines, so stores written by
    the original durabledict can be read in place.
    """

    @staticmethod
    def _encode(value: Any) -> str:
        return base64.encodebytes(pickle.dumps(value, pickle.HIGHEST_PROTOCOL)).decode(
            "ascii"
        )

    @staticmethod
    def _decode(stored: Any) -> Any:
        if isinstance(stored, str):
            stored = stored.encode("ascii")
        return pickle.loads(base64.decodebytes(stored))  # the documented risk


class NoOpEncoding:
    """Stores values as they are: for in-process stores only (``MemoryDict``).

    Identity is preserved: ``d[k] = obj; d[k] is obj``.
    """

    @staticmethod
    def encode(value: Any) -> Any:
        return value

    @staticmethod
    def decode(stored: Any) -> Any:
        return stored


DefaultEncoding = JSONEncoding

__all__ = [
    "DecodingError",
    "DefaultEncoding",
    "EncoderError",
    "Encoding",
    "EncodingError",
    "JSONEncoding",
    "NoOpEncoding",
    "PickleEncoding",
]
