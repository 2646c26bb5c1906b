"""The dicts registry and conf.app_settings: lazy, one instance per process,
thread-safe, fork-safe, reset by override_settings."""

import os
import pickle
import threading
import warnings

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from django_durabledict import dicts, durabledict
from django_durabledict.conf import (
    ENTRY_DEFAULTS,
    DurableDictConfigError,
    DurableDictDoesNotExist,
    app_settings,
)
from django_durabledict.encoding import JSONEncoding, NoOpEncoding
from django_durabledict.registry import DictRegistry
from tests.dictbackends import (
    SharedMemoryDict,
    memory_entry,
    other_process,
    reset_stores,
)

TWO = {"features": memory_entry(), "limits": memory_entry(AUTOSYNC=True)}


@pytest.fixture(autouse=True)
def two_dicts():
    reset_stores()
    with override_settings(DURABLEDICTS=TWO):
        yield


def test_defaults_without_the_setting(settings):
    del settings.DURABLEDICTS
    assert app_settings.names() == ["default"]
    assert app_settings.entry("default") == ENTRY_DEFAULTS
    assert ENTRY_DEFAULTS["BACKEND"] == "django_durabledict.backends.model.ModelDict"
    assert ENTRY_DEFAULTS["AUTOSYNC"] is False


def test_config_imports_paths_and_merges_defaults():
    config = app_settings.config("features")
    assert config["BACKEND"] is SharedMemoryDict
    assert config["ENCODING"] is JSONEncoding
    assert config["DEFAULTS"] == {} and config["OPTIONS"] == {}
    config["AUTOSYNC"] = "changed by a backend"
    assert app_settings.config("features")["AUTOSYNC"] is False  # a copy each time


def test_objects_are_accepted_instead_of_paths(settings):
    settings.DURABLEDICTS = {
        "x": {"BACKEND": SharedMemoryDict, "ENCODING": NoOpEncoding}
    }
    value = object()
    dicts["x"]["k"] = value
    assert dicts["x"]["k"] is value


def test_settings_are_read_late_and_reloaded(settings):
    assert app_settings.config("features")["AUTOSYNC"] is False
    settings.DURABLEDICTS = {"features": memory_entry(AUTOSYNC=True)}
    assert app_settings.config("features")["AUTOSYNC"] is True


def test_lookup_builds_once_and_returns_the_same_instance():
    built = SharedMemoryDict.instances_built
    first = dicts["features"]
    assert isinstance(first, SharedMemoryDict)
    assert dicts["features"] is first
    assert SharedMemoryDict.instances_built == built + 1
    assert first.name == "features"
    assert first.autosync is False and dicts["limits"].autosync is True


def test_nothing_is_built_until_used():
    assert dicts.all(initialized_only=True) == []
    assert "features" in dicts and list(dicts) == ["features", "limits"]
    assert len(dicts) == 2
    assert dicts.all(initialized_only=True) == []
    dicts["limits"]
    assert dicts.all(initialized_only=True) == [dicts["limits"]]
    assert dicts.all() == [dicts["features"], dicts["limits"]]


def test_unknown_name_names_the_configured_dicts():
    with pytest.raises(DurableDictDoesNotExist) as info:
        dicts["nope"]
    assert isinstance(info.value, KeyError)
    assert isinstance(info.value, ImproperlyConfigured)
    assert str(info.value) == (
        "No dict named 'nope' in DURABLEDICTS. Configured dicts: 'features', 'limits'."
    )
    assert dicts.get("nope") is None
    assert dicts.get("nope", 1) == 1
    assert "nope" not in dicts


def test_bad_backend_path_names_dict_and_path(settings):
    settings.DURABLEDICTS = {"x": {"BACKEND": "tests.nowhere.Dict"}}
    with pytest.raises(DurableDictConfigError, match=r"\['x'\]\['BACKEND'\] = 'tests"):
        dicts["x"]
    settings.DURABLEDICTS = {"x": {"BACKEND": "collections.OrderedDict"}}
    with pytest.raises(DurableDictConfigError, match="not a DurableDict subclass"):
        dicts["x"]
    settings.DURABLEDICTS = {"x": memory_entry(ENCODING="tests.nowhere.Encoding")}
    with pytest.raises(DurableDictConfigError, match=r"\['x'\]\['ENCODING'\]"):
        dicts["x"]


def test_override_settings_resets_the_dicts():
    outer = dicts["features"]
    with override_settings(DURABLEDICTS={"features": memory_entry(AUTOSYNC=True)}):
        inner = dicts["features"]
        assert inner is not outer and inner.autosync is True
    assert outer.closed
    assert dicts["features"] is not inner and dicts["features"].autosync is False


def test_changing_caches_resets_the_dicts(settings):
    built = dicts["features"]
    settings.CACHES = {**settings.CACHES}
    assert built.closed and dicts["features"] is not built


def test_registry_is_read_only():
    for attempt in (
        lambda: dicts.__setitem__("x", 1),
        lambda: dicts.__delitem__("features"),
        lambda: dicts.pop("features"),
        dicts.popitem,
        dicts.clear,
        lambda: dicts.update({}),
        lambda: dicts.setdefault("x", 1),
    ):
        with pytest.raises(TypeError, match="read-only"):
            attempt()
    with pytest.raises(TypeError):
        pickle.dumps(dicts)


def test_mapping_views_describe_configured_dicts():
    assert dicts.keys() == ["features", "limits"]
    assert [name for name, _ in dicts.items()] == ["features", "limits"]
    assert dicts.values() == dicts.all()
    assert dicts.copy() == {"features": dicts["features"], "limits": dicts["limits"]}
    assert dicts == dicts and dicts != {}
    assert "configured=['features', 'limits']" in repr(dicts)


def test_sync_all_syncs_built_dicts_with_autosync_off_only():
    features, limits = dicts["features"], dicts["limits"]
    other_process("features")["flag"] = True
    reads = limits.token_reads
    dicts.sync_all()
    assert features["flag"] is True
    assert limits.token_reads == reads


def test_sync_all_carries_on_past_a_failing_dict(settings, caplog):
    settings.DURABLEDICTS = {
        "broken": memory_entry(BACKEND="tests.dictbackends.BrokenSyncDict"),
        "features": memory_entry(),
    }
    dicts["broken"].broken = True
    features = dicts["features"]
    other_process("features")["flag"] = 1
    dicts.sync_all()
    assert features["flag"] == 1
    assert "BrokenSyncDict 'broken': sync failed" in caplog.text
    assert "broken on purpose" in caplog.text


def test_close_all_closes_and_forgets():
    features = dicts["features"]
    dicts.close_all()
    assert features.closed
    assert dicts.all(initialized_only=True) == []
    assert dicts["features"] is not features


def test_concurrent_first_lookups_build_one_instance():
    built = SharedMemoryDict.instances_built
    barrier = threading.Barrier(8)
    seen = []

    def lookup():
        barrier.wait(timeout=10)
        seen.append(dicts["features"])

    threads = [threading.Thread(target=lookup) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert len(seen) == 8 and len({id(d) for d in seen}) == 1
    assert SharedMemoryDict.instances_built == built + 1


def test_one_instance_per_process_not_per_thread():
    mine = dicts["features"]
    theirs = []
    thread = threading.Thread(target=lambda: theirs.append(dicts["features"]))
    thread.start()
    thread.join(timeout=10)
    assert theirs == [mine] and theirs[0] is mine


def test_a_forked_child_builds_its_own_dicts():
    parent = dicts["features"]
    read_end, write_end = os.pipe()
    with warnings.catch_warnings():
        # Python >= 3.12 warns about forking a process with threads: harmless here,
        # the child only reads the registry and exits.
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # the child: report, then leave without running pytest's atexit
        try:
            fresh = dicts.all(initialized_only=True) == []
            rebuilt = dicts["features"] is not parent
            os.write(write_end, b"ok" if fresh and rebuilt else b"no")
        finally:
            os._exit(0)
    os.close(write_end)
    _, status = os.waitpid(pid, 0)
    assert os.read(read_end, 2) == b"ok" and status == 0
    os.close(read_end)
    assert dicts["features"] is parent  # the parent keeps its own


def test_default_proxy_follows_the_default_dict(settings):
    settings.DURABLEDICTS = {"default": memory_entry()}
    durabledict["flag"] = True
    assert durabledict["flag"] is True and "flag" in durabledict
    assert list(durabledict) == ["flag"] and len(durabledict) == 1
    assert durabledict == {"flag": True}
    assert durabledict.get("missing", 0) == 0
    assert durabledict.autosync is False
    durabledict.autosync = True
    assert dicts["default"].autosync is True
    del durabledict["flag"]
    assert "flag" not in dicts["default"]
    settings.DURABLEDICTS = {"default": memory_entry(DEFAULTS={"x": 1})}
    assert durabledict["x"] == 1  # a new default dict after the settings changed


def test_package_exports():
    import django_durabledict

    assert django_durabledict.dicts is dicts
    assert isinstance(dicts, DictRegistry)


def test_a_built_dict_is_found_by_a_plain_dict_lookup():
    # dicts["features"] sits on every read path: once built, no Python code may run
    # for it (see docs/integration.rst for the measured cost).
    assert DictRegistry.__getitem__ is dict.__getitem__
    built = dicts["features"]
    assert dict.__getitem__(dicts, "features") is built
