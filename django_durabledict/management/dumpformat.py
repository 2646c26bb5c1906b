"""The file durabledict_dump writes and durabledict_load reads (format 1).

::

    {
      "backends": {"features": "django_durabledict.backends.model.ModelDict"},
      "dicts": {"features": {"banner": "Hello", "new_checkout": true}},
      "format": 1,
      "skipped": {"legacy": ["blocked_ips"]}
    }

* ``format``: 1. A reader refuses any other number.
* ``dicts``: each dict's keys with their *decoded* values, as JSON.
* ``backends``: the backend each dict was dumped from; for people, the load does
  not require the same backend.
* ``skipped`` (only when keys were left out): the keys the dump could not write as
  JSON. ``durabledict_load --prune`` leaves them alone.

A value that cannot be written as plain JSON (a pickled set) is written, with
``--raw``, as the text the store holds, tagged with its encoding::

    {"__durabledict_raw__": "django_durabledict.encoding.PickleEncoding",
     "value": "gAWVCQAAAAAAAACPlChLAUsCkC4=\\n"}

A JSON value that is itself an object with a ``__durabledict_raw__`` member is
always written in that form, so it cannot be taken for a tagged value.

The same store always dumps to the same bytes: keys are sorted at every level, and
nothing in the file depends on time or on the process that wrote it.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from django_durabledict.encoding import JSONEncoding, PickleEncoding

FORMAT_VERSION = 1
RAW_TAG = "__durabledict_raw__"
TOP_LEVEL_KEYS = frozenset({"format", "dicts", "backends", "skipped"})


class Skip(Exception):
    """A key the dump leaves out; the message says why."""


def dotted_path(obj: Any) -> str:
    """``module.QualName`` of a class, or of an instance's class."""
    cls = obj if isinstance(obj, type) else type(obj)
    return f"{cls.__module__}.{cls.__qualname__}"


def is_pickle(encoding: Any) -> bool:
    """True for encodings whose decoding runs code chosen by the writer."""
    cls = encoding if isinstance(encoding, type) else type(encoding)
    return issubclass(cls, PickleEncoding)


def is_json(encoding: Any) -> bool:
    cls = encoding if isinstance(encoding, type) else type(encoding)
    return issubclass(cls, JSONEncoding)


def stored_text(stored: Any) -> str | None:
    """The text of a stored value (Redis and ZooKeeper hand back bytes), or
    ``None`` when it is not text (a NoOpEncoding object, binary data)."""
    if isinstance(stored, str):
        return stored
    if isinstance(stored, (bytes, bytearray, memoryview)):
        try:
            return bytes(stored).decode("utf-8")
        except UnicodeDecodeError:
            return None
    return None


def canonical(value: Any) -> str:
    """The JSON text of *value* as the dump writes it; ``ValueError``/``TypeError``
    when it has none."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False, allow_nan=False)


def tagged(encoding: Any, text: str) -> dict[str, str]:
    return {RAW_TAG: dotted_path(encoding), "value": text}


def is_tagged(value: Any) -> bool:
    return isinstance(value, dict) and RAW_TAG in value


# -- Dumping ------------------------------------------------------------------------


def export_value(durable: Any, stored: Any, raw: bool) -> Any:
    """The JSON value to write for *stored*; raises :class:`Skip`.

    Pickles are never unpickled: with *raw* they are written tagged, otherwise
    skipped. A value stored in ``old_encoding`` is handled the same way."""
    encoding = durable.encoding
    if is_pickle(encoding):
        return _raw_or_skip(encoding, stored, raw, "a dump never unpickles")
    try:
        value = encoding.decode(stored)
    except Exception as exc:
        return _old_encoding_value(durable, stored, raw, exc)
    return _as_json(encoding, value, stored, raw)


def _old_encoding_value(durable: Any, stored: Any, raw: bool, exc: Exception) -> Any:
    old = durable.old_encoding
    reason = f"{dotted_path(durable.encoding)} cannot decode it ({exc})"
    if old is None:
        raise Skip(reason)
    if is_pickle(old):
        return _raw_or_skip(old, stored, raw, "a dump never unpickles (OLD_ENCODING)")
    try:
        value = old.decode(stored)
    except Exception as old_exc:
        raise Skip(f"{reason}, nor can {dotted_path(old)} ({old_exc})") from None
    return _as_json(old, value, stored, raw)


def _as_json(encoding: Any, value: Any, stored: Any, raw: bool) -> Any:
    try:
        text = canonical(value)
    except (TypeError, ValueError) as exc:
        return _raw_or_skip(encoding, stored, raw, f"it is not JSON ({exc})")
    # JSONEncoding's values are JSON by construction. Other encodings may hold
    # what JSON turns into something else: a tuple comes back as a list.
    if not is_json(encoding) and json.loads(text) != value:
        return _raw_or_skip(
            encoding, stored, raw, f"{type(value).__name__} does not survive JSON"
        )
    if is_tagged(value):
        # Written tagged, whatever --raw says: loaded as it stands it would be
        # taken for a tagged value.
        return _raw_or_skip(encoding, stored, True, f"it holds a {RAW_TAG} member")
    return value


def _raw_or_skip(encoding: Any, stored: Any, raw: bool, why: str) -> Any:
    if not raw:
        raise Skip(f"{why}; --raw includes it as stored")
    text = stored_text(stored)
    if text is None:
        raise Skip(f"{why}, and what the store holds is not text")
    return tagged(encoding, text)


def render(document: dict[str, Any], indent: int | None) -> str:
    """The file's text: sorted keys, UTF-8 friendly, one final newline."""
    separators = (",", ": ") if indent else (",", ":")
    text = json.dumps(
        document,
        sort_keys=True,
        ensure_ascii=False,
        allow_nan=False,
        indent=indent or None,
        separators=separators,
    )
    return text + "\n"


# -- Loading ------------------------------------------------------------------------


def parse(text: str) -> tuple[dict[str, Any] | None, list[str]]:
    """``(document, problems)``; *document* is ``None`` when the text is not a
    format-1 document at all."""
    try:
        document = json.loads(text, object_pairs_hook=_no_duplicates)
    except ValueError as exc:
        return None, [f"the file is not JSON: {exc}"]
    problems = shape_problems(document)
    return (document if not problems else None), problems


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"the key {key!r} appears twice in one object")
        result[key] = value
    return result


def shape_problems(document: Any) -> list[str]:
    """What keeps *document* from being a format-1 file."""
    if not isinstance(document, dict):
        return [f"the file holds a JSON {type(document).__name__}, not an object"]
    unknown = [key for key in document if key not in TOP_LEVEL_KEYS]
    problems = [f"unknown top-level key {key!r}" for key in unknown]
    version = document.get("format")
    if type(version) is not int or version != FORMAT_VERSION:
        problems.append(
            f"'format' is {version!r}: this version reads format {FORMAT_VERSION}"
        )
    dicts = document.get("dicts")
    if not isinstance(dicts, dict):
        problems.append("'dicts' must be an object of dict names to objects")
        return problems
    for name, values in dicts.items():
        if not isinstance(values, dict):
            problems.append(f"dicts[{name!r}] must be an object, not {_kind(values)}")
    for field, inner in (("backends", str), ("skipped", list)):
        problems += _map_problems(document, field, inner)
    return problems


def _map_problems(document: dict[str, Any], field: str, inner: type) -> list[str]:
    value = document.get(field, {})
    if not isinstance(value, dict) or not all(
        isinstance(item, inner) for item in value.values()
    ):
        return [f"{field!r} must be an object of dict names to {inner.__name__}s"]
    if inner is list and not all(
        isinstance(key, str) for keys in value.values() for key in keys
    ):
        return [f"{field!r} must list keys as strings"]
    return []


def _kind(value: Any) -> str:
    return "null" if value is None else f"a {type(value).__name__}"


def tagged_problem(durable: Any, value: Any) -> str | None:
    """What is wrong with a tagged value for *durable*, or ``None``. Never
    decodes a pickle: it only checks the base64 of one."""
    if set(value) != {RAW_TAG, "value"} or not isinstance(value["value"], str):
        return f'a tagged value is {{"{RAW_TAG}": "<encoding>", "value": "<text>"}}'
    encodings = [e for e in (durable.encoding, durable.old_encoding) if e is not None]
    match = [e for e in encodings if dotted_path(e) == value[RAW_TAG]]
    if not match:
        names = " or ".join(dotted_path(e) for e in encodings)
        return f"it is tagged {value[RAW_TAG]!r}, but the dict uses {names}"
    text = value["value"]
    try:
        if is_pickle(match[0]):
            base64.b64decode("".join(text.split()), validate=True)
        else:
            match[0].decode(text)
    except Exception as exc:  # binascii.Error, DecodingError, a custom codec's
        return f"its text is not valid {dotted_path(match[0])}: {exc}"
    return None
