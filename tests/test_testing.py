"""override_durabledict and the durabledicts context processor."""

import pytest
from django.test import Client, SimpleTestCase, override_settings

from django_durabledict import dicts
from django_durabledict.testing import override_durabledict
from tests.dictbackends import (
    SharedMemoryDict,
    memory_entry,
    other_process,
    reset_stores,
)

CONFIG = {"features": memory_entry(DEFAULTS={"beta": False})}


@pytest.fixture(autouse=True)
def configured():
    reset_stores()
    with override_settings(DURABLEDICTS=CONFIG):
        other_process("features")["flag"] = "stored"
        yield


def test_context_manager_sets_and_restores():
    with override_durabledict("features", flag="over", new=1, beta=True):
        assert dicts["features"].copy() == {"flag": "over", "new": 1, "beta": True}
        assert other_process("features")["flag"] == "over"  # in the store itself
    assert dicts["features"].copy() == {"flag": "stored", "beta": False}
    assert "new" not in other_process("features")
    assert "beta" not in other_process("features")  # a default stays a default


def test_nesting_restores_each_level():
    with override_durabledict("features", flag=1):
        with override_durabledict("features", flag=2):
            assert dicts["features"]["flag"] == 2
        assert dicts["features"]["flag"] == 1
    assert dicts["features"]["flag"] == "stored"


def test_restores_after_an_exception():
    with pytest.raises(RuntimeError), override_durabledict("features", flag=0):
        raise RuntimeError
    assert dicts["features"]["flag"] == "stored"


@override_durabledict("features", flag="decorated")
def test_function_decorator():
    assert dicts["features"]["flag"] == "decorated"


def test_function_decorator_restores():
    @override_durabledict("features", flag="inside")
    def read():
        return dicts["features"]["flag"]

    assert read() == "inside"
    assert dicts["features"]["flag"] == "stored"


@override_settings(DURABLEDICTS=CONFIG)
@override_durabledict("features", flag="class")
class OverrideOnATestCase(SimpleTestCase):
    def test_each_test_sees_the_override(self):
        assert dicts["features"]["flag"] == "class"

    def test_a_view_sees_the_override(self):
        with override_settings(
            MIDDLEWARE=["django_durabledict.middleware.DurableDictSyncMiddleware"],
            ROOT_URLCONF="tests.integration_urls",
        ):
            assert Client().get("/sync/").json()["flag"] == "class"


def test_unknown_dict_is_an_error():
    with pytest.raises(KeyError), override_durabledict("nope", x=1):
        pass


def test_context_processor_is_lazy_and_renders_values(settings):
    settings.ROOT_URLCONF = "tests.integration_urls"
    settings.TEMPLATES = [
        {
            "BACKEND": "django.template.backends.django.DjangoTemplates",
            "OPTIONS": {
                "context_processors": [
                    "django_durabledict.context_processors.durabledicts"
                ]
            },
        }
    ]
    from django_durabledict.context_processors import durabledicts

    built = SharedMemoryDict.instances_built
    assert durabledicts(None) == {"dicts": dicts}
    assert SharedMemoryDict.instances_built == built  # no dict built, no I/O
    html = Client().get("/template/").json()["html"]
    assert html == "[stored||]"  # unknown dicts and keys render as invalid variables
