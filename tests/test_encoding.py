"""Encodings: round trips, the original's pickle wire format, error mapping."""

import base64
import pickle

import pytest

from django_durabledict import encoding
from django_durabledict.encoding import (
    DecodingError,
    DefaultEncoding,
    EncoderError,
    EncodingError,
    JSONEncoding,
    NoOpEncoding,
    PickleEncoding,
)

VALUES = [0, 1.5, "text", "ünïcode ✓", None, True, [1, [2]], {"a": {"b": [None]}}]


@pytest.mark.parametrize("codec", [JSONEncoding, PickleEncoding, NoOpEncoding])
@pytest.mark.parametrize("value", VALUES)
def test_round_trip(codec, value):
    assert codec.decode(codec.encode(value)) == value
    assert codec().decode(codec().encode(value)) == value


def test_json_is_the_default():
    assert DefaultEncoding is JSONEncoding


def test_json_is_plain_text_and_accepts_bytes():
    assert JSONEncoding.encode({"a": "ü"}) == '{"a": "ü"}'
    assert JSONEncoding.decode('{"a": "ü"}'.encode()) == {"a": "ü"}


def test_pickle_reads_the_original_wire_format():
    value = {"a": [1, 2], "b": {1, 2}}
    # durabledict 0.9.x: base64.encodestring(pickle.dumps(v, HIGHEST)) -> newlines
    original = base64.encodebytes(pickle.dumps(value, pickle.HIGHEST_PROTOCOL))
    assert b"\n" in original
    assert PickleEncoding.decode(original) == value
    assert PickleEncoding.decode(original.decode()) == value
    assert PickleEncoding.decode(original.replace(b"\n", b"")) == value
    encoded = PickleEncoding.encode(value)
    assert isinstance(encoded, str) and encoded.endswith("\n")


@pytest.mark.parametrize(
    ("codec", "value"),
    [
        (JSONEncoding, object()),
        (JSONEncoding, {1, 2}),
        (JSONEncoding, float("nan")),
        (PickleEncoding, lambda: None),
    ],
)
def test_encoding_failures_are_encoding_errors(codec, value):
    with pytest.raises(EncodingError) as info:
        codec.encode(value)
    assert isinstance(info.value, EncoderError) and isinstance(info.value, ValueError)


@pytest.mark.parametrize(
    ("codec", "stored"),
    [
        (JSONEncoding, "{nope"),
        (JSONEncoding, b"\xff\xfe"),
        (JSONEncoding, None),
        (PickleEncoding, "not base64 !!"),
        (PickleEncoding, "aGVsbG8="),  # valid base64, not a pickle
        (PickleEncoding, b""),
        (PickleEncoding, 12),
    ],
)
def test_decoding_failures_are_decoding_errors(codec, stored):
    with pytest.raises(DecodingError):
        codec.decode(stored)


def test_module_exports():
    assert set(encoding.__all__) >= {
        "JSONEncoding",
        "PickleEncoding",
        "NoOpEncoding",
        "DefaultEncoding",
        "EncoderError",
        "EncodingError",
        "DecodingError",
    }
