"""ModelDict details: the original's bugs (B10, B11), atomic pop and setdefault,
reads never write, planted tokens never unpickled, the backstop, signals and the
DURABLEDICTS entry."""

import logging
import pickle
import threading
import uuid

import pytest
from django.core.cache import caches
from django.db import connections
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

from django_durabledict import versioning
from django_durabledict.backends import cacheops
from django_durabledict.backends.model import ModelDict
from django_durabledict.encoding import JSONEncoding
from django_durabledict.models import DurableNamespace, DurableSetting
from tests.models import RenamedSetting, Setting
from tests.modelsupport import (
    DATABASES,
    SHARED_CACHES,
    ModelDictFactory,
    combo,
    count_cache_calls,
)

DB_COMBOS = [combo(db, "default") for db in DATABASES]
CACHE_COMBOS = [combo("default", cache) for cache in SHARED_CACHES]


@pytest.fixture(params=DB_COMBOS)
def make_dict(request):
    return ModelDictFactory(*request.param)


@pytest.fixture(params=CACHE_COMBOS)
def make_cached_dict(request):
    return ModelDictFactory(*request.param)


def run_threads(target, count):
    results, errors = [], []

    def run():
        try:
            results.append(target())
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    return results


# -- The original's bugs -------------------------------------------------------------


def test_return_instances_honours_key_col(make_dict):  # B10
    rows = RenamedSetting.objects
    d = ModelDict(
        rows,
        "default",
        key_col="name",
        value_col="payload",
        return_instances=True,
        database=make_dict.database,
    )
    d["x"] = {"a": 1}
    instance = d["x"]
    assert isinstance(instance, RenamedSetting)
    assert instance.name == "x" and JSONEncoding.decode(instance.payload) == {"a": 1}
    d.sync()
    assert isinstance(d["x"], RenamedSetting)
    assert isinstance(d.pop("x"), RenamedSetting) and "x" not in d


def test_return_instances_on_durable_setting(make_dict):
    d = make_dict(return_instances=True)
    d["x"] = 1
    assert isinstance(d["x"], DurableSetting)
    other = make_dict(return_instances=True)
    assert other["x"].value == "1"


def test_persist_compares_encoded_with_encoded(make_dict):  # B11
    d = make_dict()
    d["s"] = "x"
    d["s"] = '"x"'  # equal to the old *encoded* text: the original did not save it
    assert make_dict()["s"] == '"x"'


def test_writing_an_unchanged_value_writes_nothing(make_dict):  # B11
    d = make_dict()
    d["a"] = {"b": 1}
    before = DurableNamespace.objects.using(make_dict.database).version(
        make_dict.namespace
    )
    database = connections[make_dict.database]
    with CaptureQueriesContext(database) as queries, count_cache_calls() as cache:
        d["a"] = {"b": 1}
    writes = [q for q in queries if q["sql"].startswith(("UPDATE", "INSERT"))]
    assert writes == [] and cache.total == 0
    assert (
        DurableNamespace.objects.using(make_dict.database).version(make_dict.namespace)
        == before
    )


def test_setdefault_on_an_existing_key_bumps_nothing(make_dict):  # B7's twin
    d = make_dict()
    d["a"] = 1
    with count_cache_calls() as cache:
        assert d.setdefault("a", 2) == 1
    assert cache.total == 0


def test_delete_missing_raises_key_error_and_bumps_nothing(make_dict):  # B5
    d = make_dict()
    d["a"] = 1
    token = d.token.read()
    with pytest.raises(KeyError):
        del d["missing"]
    with pytest.raises(KeyError):
        d.depersist("missing")
    assert d.token.read() == token


# -- Atomic pop and setdefault -------------------------------------------------------


def test_concurrent_pops_give_the_value_to_exactly_one(make_dict):
    make_dict()["k"] = "v"
    results = run_threads(lambda: make_dict().pop("k", None), 6)
    assert sorted(results, key=str) == [None] * 5 + ["v"]
    assert make_dict() == {}


def test_concurrent_setdefaults_agree(make_dict):
    counter = iter(range(100))
    results = run_threads(lambda: make_dict().setdefault("k", next(counter)), 6)
    assert len(set(results)) == 1
    assert make_dict()["k"] == results[0]


# -- Reads never write ---------------------------------------------------------------


def test_reads_and_syncs_only_select(make_dict):
    writer, reader = make_dict(), make_dict(autosync=True)
    writer["a"] = 1
    with CaptureQueriesContext(connections[make_dict.database]) as queries:
        assert reader["a"] == 1
        writer_sees = reader.get("a")  # noqa: F841
        reader.sync()
        reader.watch.backstop_now()
        reader.sync()
        list(reader.items())
    assert queries and all(
        q["sql"].lstrip("(").upper().startswith("SELECT") for q in queries
    ), [q["sql"] for q in queries]


# -- Errors in stored data -----------------------------------------------------------


def test_undecodable_value_names_namespace_and_key(make_dict, caplog):
    d = make_dict()
    d["good"] = 1
    make_dict.write_raw("bad", "{not json")
    caplog.set_level(logging.ERROR, "django_durabledict")
    d.sync()
    assert d == {"good": 1}
    assert make_dict.namespace in caplog.text and "'bad'" in caplog.text


# -- The token -----------------------------------------------------------------------


PLANTED_RAN = threading.Event()


def planted_code():
    PLANTED_RAN.set()


class Planted:
    """Unpickling this runs code: it must never happen on the token's read path."""

    def __reduce__(self):
        return (planted_code, ())


def plant(cache_alias, key, value):
    cache = caches[cache_alias]
    backend = type(cache).__module__
    if "django_redis" in backend:
        cache.client.get_client(write=True).set(cache.make_key(key), value)
    elif "redis" in backend:
        name = cache.make_and_validate_key(key)
        cache._cache.get_client(name, write=True).set(name, value)
    else:  # memcached: stored with pymemcache's pickle flag, as cache.set would
        cache._cache.set(cache.make_and_validate_key(key), Planted())


def test_a_planted_pickle_is_never_unpickled(make_cached_dict):
    reader = make_cached_dict(autosync=False)
    make_cached_dict()["a"] = 1
    reader.sync()
    PLANTED_RAN.clear()
    plant(make_cached_dict.cache, reader.token.key, pickle.dumps(Planted()))
    make_cached_dict()["a"] = 2  # the writer's bump meets the planted value too
    reader.sync()
    assert not PLANTED_RAN.is_set()
    assert reader["a"] == 2  # the planted value counted as a change
    assert isinstance(reader.token.read(), int)
    PLANTED_RAN.clear()


def test_token_key_and_no_expiry(make_cached_dict):
    d = make_cached_dict()
    assert d.token.key == (
        f"durabledict:default:django_durabledict_durablesetting:"
        f"{make_cached_dict.namespace}:version"
    )
    d["a"] = 1
    assert d.token.read() >= 2**61
    cache = caches[make_cached_dict.cache]
    if make_cached_dict.cache == "redis":
        assert cache.ttl(d.token.key) is None  # django-redis: no expiry
    elif make_cached_dict.cache == "redis_builtin":
        name = cache.make_and_validate_key(d.token.key)
        assert cache._cache.get_client(name).ttl(name) == -1


def test_namespaces_do_not_share_tokens_or_rows(make_dict):
    a = make_dict()
    b = ModelDict(namespace=f"other-{uuid.uuid4().hex[:8]}", database=a.using)
    a["k"] = 1
    assert "k" not in b and a.token.key != b.token.key


def test_dummy_cache_reloads_on_every_sync(make_dict):
    with override_settings(
        CACHES={"default": {"BACKEND": "django.core.cache.backends.dummy.DummyCache"}}
    ):
        d = make_dict(autosync=False)
        make_dict()["a"] = 1
        d.sync()
        assert d["a"] == 1  # correct, if slow: no token is ever found


# -- The backstop --------------------------------------------------------------------


def lose_bumps(monkeypatch):
    """Commits still happen; their cache bumps never do (a writer killed between
    commit and its hook, or a client swallowing the error)."""
    monkeypatch.setattr(versioning.ChangeNotice, "tokens", lambda self: [])


def test_a_lost_bump_is_seen_at_the_next_backstop(make_dict, monkeypatch):
    reader = make_dict(autosync=False, backstop_interval=3600)
    lose_bumps(monkeypatch)
    make_dict()["a"] = 1
    reader.sync()
    assert "a" not in reader  # the hint did not move
    reader.watch.backstop_now()
    with CaptureQueriesContext(connections[make_dict.database]) as queries:
        reader.sync()
    assert reader["a"] == 1
    assert len(queries) == 2  # the version check, then the reload


def test_an_unchanged_backstop_check_is_one_query(make_dict):
    reader = make_dict(autosync=False, backstop_interval=3600)
    make_dict()["a"] = 1
    reader.sync()
    reader.watch.backstop_now()
    with CaptureQueriesContext(connections[make_dict.database]) as queries:
        reader.sync()
        reader.sync()
    assert len(queries) == 1


def test_the_backstop_is_one_query_per_interval_whatever_the_threads(make_dict):
    reader = make_dict(autosync=True, backstop_interval=3600)
    reader.watch.backstop_now()
    checks = []
    original = reader.watch.db_version
    reader.watch.db_version = lambda: checks.append(1) or original()
    run_threads(lambda: [reader.get("a") for _ in range(20)], 8)
    assert len(checks) == 1


def test_the_backstop_is_jittered_below_the_interval(make_dict):
    d = make_dict(backstop_interval=10)
    delays = set()
    for _ in range(20):
        delays.add(round(d.watch._schedule() - __import__("time").monotonic(), 1))
    assert all(7.4 <= delay <= 10.0 for delay in delays) and len(delays) > 1


def test_a_users_model_is_reloaded_at_each_backstop(make_dict, monkeypatch):
    reader = ModelDict(
        Setting.objects,
        autosync=False,
        backstop_interval=3600,
        database=make_dict.database,
    )
    Setting.objects.using(make_dict.database).create(key="a", value="1")
    reader.sync()
    assert "a" not in reader
    reader.watch.backstop_now()
    reader.sync()
    assert reader["a"] == 1


# -- Signals, touch_last_updated, DURABLEDICTS ---------------------------------------


def test_orm_and_admin_writes_bump_dicts_this_process_never_built(
    make_cached_dict, monkeypatch
):
    # One change moves the token by one here, so "bumped once" shows as +1.
    monkeypatch.setattr(cacheops, "random_step", lambda: 1)
    namespace = f"cfg{uuid.uuid4().hex[:8]}"
    config = {
        namespace: {
            "BACKEND": "django_durabledict.backends.model.ModelDict",
            "CACHE": make_cached_dict.cache,
        }
    }
    key = versioning.setting_token_key("default", namespace)
    with override_settings(DURABLEDICTS=config):
        caches[make_cached_dict.cache].add(key, 2**61, timeout=None)
        DurableSetting.objects.create(namespace=namespace, key="k", value="1")
        token = versioning.CacheToken(make_cached_dict.cache, key)
        assert token.read() == 2**61 + 1
        DurableSetting.objects.filter(namespace=namespace).update(value="2")
        assert token.read() == 2**61 + 2
        DurableSetting.objects.filter(namespace=namespace).delete()
        assert token.read() == 2**61 + 3


def test_track_model_bumps_on_a_users_model(make_dict):
    reader = ModelDict(Setting.objects, autosync=False, database=make_dict.database)
    reader.connect_signals()
    Setting.objects.using(make_dict.database).create(key="a", value="1")
    reader.sync()
    assert reader["a"] == 1


def test_touch_last_updated(make_dict):
    reader = ModelDict(Setting.objects, autosync=False, database=make_dict.database)
    Setting.objects.using(make_dict.database).bulk_create([Setting(key="a", value="1")])
    reader.sync()
    assert "a" not in reader
    ModelDict(Setting.objects, database=make_dict.database).touch_last_updated()
    reader.sync()
    assert reader["a"] == 1


def entry(**extra):
    return {
        "BACKEND": "django_durabledict.backends.model.ModelDict",
        "AUTOSYNC": False,
        "ENCODING": JSONEncoding,
        "OPTIONS": {},
        **extra,
    }


@pytest.mark.django_db(transaction=True)
def test_from_config_binds_the_namespace_of_the_entry():
    d = ModelDict.from_config("flags", entry(CACHE="default", BACKSTOP_INTERVAL=5))
    assert d.namespace == "flags" and d.model is DurableSetting
    assert d.watch.interval == 5 and d.autosync is False and d.name == "flags"
    user = ModelDict.from_config(
        "legacy",
        entry(
            MODEL="tests.RenamedSetting",
            OPTIONS={"key_col": "name", "value_col": "payload"},
        ),
    )
    assert user.model is RenamedSetting and user.namespace is None
    assert ModelDict.setting_binding("flags", entry(), "default") == (
        "flags",
        "default",
    )
    assert (
        ModelDict.setting_binding("legacy", entry(MODEL="tests.Setting"), "default")
        is None
    )
    assert ModelDict.setting_binding("x", entry(DATABASE="other"), "default") is None


def test_check_config_reports_each_problem():
    assert ModelDict.check_config("flags", entry()) == []
    problems = ModelDict.check_config(
        "x" * 101,
        entry(CACHE="nope", DATABASE="nope", BACKSTOP_INTERVAL=0),
    )
    assert len(problems) == 4, problems
    assert ModelDict.check_config("l", entry(MODEL="nope.Model")) != []


def test_durable_setting_needs_a_namespace():
    with pytest.raises(ValueError, match="namespace"):
        ModelDict()


def test_a_failed_bump_is_retried_once_the_cache_answers(make_dict, monkeypatch):
    monkeypatch.setattr(cacheops, "random_step", lambda: 1)  # "once" shows as +1
    from django_durabledict.backends import cachetoken

    reader = make_dict(autosync=False)
    writer = make_dict()
    writer["a"] = 1
    reader.sync()
    cachetoken.bump_later(reader.token)  # as if the cache had been down
    cachetoken.bump_later(cachetoken.CacheToken("gone-alias", "k"))
    token = reader.token.read()
    reader.sync()  # the cache answers: the process's failed bumps go out
    assert reader.token.read() == token + 1
    assert not cachetoken.failed_bumps()
