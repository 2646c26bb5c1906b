"""System checks: one test per id, plus the configurations that pass cleanly."""

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import override_settings

from django_durabledict import checks
from django_durabledict.middleware import DurableDictSyncMiddleware
from tests.dictbackends import memory_entry

MIDDLEWARE = ["django_durabledict.middleware.DurableDictSyncMiddleware"]
LOCMEM = {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
NEEDS_LOCATION = "tests.dictbackends.NeedsLocationDict"


class MyMiddleware(DurableDictSyncMiddleware):
    pass


def ids(messages):
    return [message.id for message in messages]


def run_all(deploy=False):
    from django.core.checks import run_checks

    return [
        m
        for m in run_checks(include_deployment_checks=deploy)
        if m.id.startswith("durabledict.")
    ]


@pytest.fixture(autouse=True)
def with_middleware():
    with override_settings(MIDDLEWARE=MIDDLEWARE):
        yield


@override_settings(DURABLEDICTS={"x": {"BACKEND": "tests.nowhere.Dict"}})
def test_e001_backend_does_not_import():
    (error,) = checks.check_backends()
    assert error.id == "durabledict.E001"
    assert "'tests.nowhere.Dict' cannot be imported" in error.msg


@override_settings(DURABLEDICTS={"x": {"BACKEND": "collections.OrderedDict"}})
def test_e001_backend_is_not_a_durabledict():
    assert ids(checks.check_backends()) == ["durabledict.E001"]


@override_settings(DURABLEDICTS={"x": memory_entry(LOCATON="typo", OPTIONS={})})
def test_e002_unknown_key():
    (error,) = checks.check_entry_keys()
    assert error.id == "durabledict.E002"
    assert "unknown key 'LOCATON'" in error.msg


@override_settings(
    DURABLEDICTS={"x": {"BACKEND": NEEDS_LOCATION, "LOCATION": "somewhere"}}
)
def test_e002_backend_keys_are_known():
    assert checks.check_entry_keys() == []


@override_settings(DURABLEDICTS={"x": {"BACKEND": NEEDS_LOCATION}})
def test_e003_backend_reports_a_missing_option():
    (error,) = checks.check_backend_config()
    assert error.id == "durabledict.E003"
    assert error.msg == "DURABLEDICTS['x']: NeedsLocationDict needs LOCATION."


@pytest.mark.parametrize(
    "entry",
    [
        memory_entry(ENCODING="tests.nowhere.Encoding"),
        memory_entry(ENCODING="json"),  # imports, but has no encode()/decode()
        memory_entry(OLD_ENCODING="tests.nowhere.Encoding"),
    ],
)
def test_e004_bad_encoding(entry):
    with override_settings(DURABLEDICTS={"x": entry}):
        assert ids(checks.check_encodings()) == ["durabledict.E004"]


@pytest.mark.parametrize("setting", [["x"], {"x": "not a dict"}, {1: {}}])
def test_e005_settings_shape(setting):
    with override_settings(DURABLEDICTS=setting):
        assert ids(checks.check_settings_shape()) == ["durabledict.E005"]
        assert run_all() == checks.check_settings_shape()  # the others skip it


@pytest.mark.parametrize(
    "extra",
    [
        {"AUTOSYNC": "yes"},
        {"DEFAULTS": ["a"]},
        {"OPTIONS": None},
        {"MAX_VALUE_SIZE": 0},
        {"MAX_VALUE_SIZE": "1MB"},
    ],
)
def test_e006_wrong_types(extra):
    with override_settings(DURABLEDICTS={"x": memory_entry(**extra)}):
        assert ids(checks.check_value_types()) == ["durabledict.E006"]


@pytest.mark.parametrize(
    "backend",
    [
        "django.core.cache.backends.locmem.LocMemCache",
        "django.core.cache.backends.dummy.DummyCache",
        "django.core.cache.backends.db.DatabaseCache",
        "django.core.cache.backends.filebased.FileBasedCache",
    ],
)
def test_w001_token_cache_is_process_local_or_not_atomic(backend):
    with override_settings(
        DURABLEDICTS={"x": {"BACKEND": NEEDS_LOCATION, "LOCATION": "y", "CACHE": "t"}},
        CACHES={"default": LOCMEM, "t": {"BACKEND": backend, "LOCATION": "/tmp/t"}},
    ):
        (warning,) = checks.check_token_cache()
        assert warning.id == "durabledict.W001"
        assert "cache 't'" in warning.msg
        assert ids(run_all(deploy=False)) == []  # a deploy-only check
        assert ids(run_all(deploy=True)) == ["durabledict.W001"]


@pytest.mark.services("memcached")
def test_w001_not_for_a_shared_cache(settings):
    settings.DURABLEDICTS = {
        "x": {"BACKEND": NEEDS_LOCATION, "LOCATION": "y", "CACHE": "memcached"}
    }
    assert checks.check_token_cache() == []


@override_settings(
    DURABLEDICTS={"x": memory_entry(), "y": memory_entry(CACHE="default")}
)
def test_w001_only_for_backends_with_a_token_cache():
    assert checks.check_token_cache() == []


@pytest.mark.parametrize("key", ["ENCODING", "OLD_ENCODING"])
def test_w002_pickle(key):
    pickle = "django_durabledict.encoding.PickleEncoding"
    with override_settings(DURABLEDICTS={"x": memory_entry(**{key: pickle})}):
        (warning,) = checks.check_pickle()
        assert warning.id == "durabledict.W002" and key in warning.msg


@override_settings(DURABLEDICTS={"x": memory_entry(), "y": memory_entry()})
def test_w003_autosync_off_without_the_middleware(settings):
    settings.MIDDLEWARE = []
    (warning,) = checks.check_middleware()
    assert warning.id == "durabledict.W003"
    assert "'x', 'y' have AUTOSYNC off" in warning.msg


@override_settings(DURABLEDICTS={"x": memory_entry(AUTOSYNC=True)}, MIDDLEWARE=[])
def test_w003_not_when_every_dict_autosyncs():
    assert checks.check_middleware() == []


@override_settings(
    DURABLEDICTS={"x": memory_entry()},
    MIDDLEWARE=["tests.test_checks.MyMiddleware"],
)
def test_w003_a_subclass_of_the_middleware_counts():
    assert checks.check_middleware() == []


@override_settings(DURABLEDICTS={"a": memory_entry(), "b": memory_entry(AUTOSYNC=True)})
def test_a_good_configuration_passes_check_and_check_deploy():
    assert run_all() == run_all(deploy=True) == []


def test_errors_stop_manage_py_check(settings):
    settings.DURABLEDICTS = {"x": {"BACKEND": "tests.nowhere.Dict"}}
    with pytest.raises(SystemCheckError, match=r"durabledict\.E001"):
        call_command("check")


def test_default_configuration_passes_check(settings):
    del settings.DURABLEDICTS
    assert run_all() == []


@pytest.mark.services("memcached")
def test_default_configuration_with_a_shared_cache_passes_check_deploy(settings):
    del settings.DURABLEDICTS
    settings.CACHES = {"default": settings.CACHES["memcached"]}
    assert run_all(deploy=True) == []


def test_default_configuration_with_locmem_warns_w001_under_deploy(settings):
    # Django's default cache is process-local: exactly what a deploy check must say.
    del settings.DURABLEDICTS
    settings.CACHES = {"default": LOCMEM}
    assert ids(run_all(deploy=True)) == ["durabledict.W001"]


@override_settings(
    DURABLEDICTS={
        "x": {
            "BACKEND": "django_durabledict.backends.model.ModelDict",
            "CACHE": "nowhere",
        }
    }
)
def test_e003_with_modeldict():
    (error,) = checks.check_backend_config()
    assert error.id == "durabledict.E003" and "'nowhere'" in error.msg
