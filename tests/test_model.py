"""ModelDict: the contract on every database x cache, and the counts of the sync
protocol (asserted, never timed)."""

import pytest
from django.core.cache import caches
from django.db import connections
from django.test.utils import CaptureQueriesContext

from django_durabledict.models import DurableSetting
from tests.contract import DictContract
from tests.modelsupport import (
    ALL_COMBOS,
    CACHES,
    DATABASES,
    ModelDictFactory,
    combo,
    count_cache_calls,
)

USER_MODEL_COMBOS = [combo(db, "default") for db in DATABASES] + [
    combo("default", cache) for cache in CACHES[1:]
]


@pytest.fixture
def combination(request):
    return request.param


@pytest.fixture
def make_dict(combination):
    database, cache = combination
    return ModelDictFactory(database, cache)


@pytest.mark.parametrize("combination", ALL_COMBOS, indirect=True)
class TestModelDictOnDurableSetting(DictContract):
    pass


@pytest.fixture
def make_user_dict(combination):
    database, cache = combination
    return ModelDictFactory(database, cache, user_model="setting")


@pytest.mark.parametrize("combination", USER_MODEL_COMBOS, indirect=True)
class TestModelDictOnAUsersModel(DictContract):
    @pytest.fixture
    def make_dict(self, make_user_dict):
        return make_user_dict


@pytest.mark.parametrize(
    "combination", [combo(db, "default") for db in DATABASES], indirect=True
)
class TestModelDictOnRenamedColumns(DictContract):
    @pytest.fixture
    def make_dict(self, combination):
        return ModelDictFactory(*combination, user_model="renamed")


# -- Counts ------------------------------------------------------------------------

COUNT_COMBOS = [combo(db, cache) for db in DATABASES for cache in CACHES]


def queries(database):
    return CaptureQueriesContext(connections[database])


@pytest.mark.parametrize("combination", COUNT_COMBOS, indirect=True)
class TestCounts:
    def test_unchanged_sync_is_one_cache_read_and_no_query(self, make_dict):
        writer, reader = make_dict(), make_dict(autosync=False)
        writer["a"] = 1
        reader.sync()
        with queries(make_dict.database) as captured, count_cache_calls() as cache:
            reader.sync()
        assert len(captured) == 0
        assert cache.total == 1, cache.calls

    def test_sync_after_a_change_is_one_query(self, make_dict):
        writer, reader = make_dict(), make_dict(autosync=False)
        writer["a"] = 1
        reader.sync()
        writer["a"] = 2
        with queries(make_dict.database) as captured, count_cache_calls() as cache:
            reader.sync()
        assert reader["a"] == 2
        assert len(captured) == 1, [q["sql"] for q in captured]
        assert cache.total == 1, cache.calls

    def test_sync_after_deleting_the_last_key_is_one_query(self, make_dict):
        writer, reader = make_dict(), make_dict(autosync=False)
        writer["a"] = 1
        reader.sync()
        del writer["a"]
        with queries(make_dict.database) as captured:
            reader.sync()
        assert reader == {} and len(captured) == 1

    def test_reads_without_autosync_touch_nothing(self, make_dict):
        writer, reader = make_dict(), make_dict(autosync=False)
        writer.update(a=1, b=2)
        reader.sync()
        with queries(make_dict.database) as captured, count_cache_calls() as cache:
            for i in range(100):
                reader.get("a")
                reader["b"]
                assert "a" in reader
                reader.get(f"missing{i}")
        assert len(captured) == 0
        assert cache.total == 0

    def test_autosync_read_is_one_cache_read(self, make_dict):
        d = make_dict(autosync=True)
        d["a"] = 1
        d.get("a")
        with queries(make_dict.database) as captured, count_cache_calls() as cache:
            for _ in range(10):
                d.get("a")
        assert len(captured) == 0
        assert cache.total == 10

    def test_a_write_bumps_the_token_once(self, make_dict):
        d = make_dict(autosync=False)
        d["a"] = 1
        with count_cache_calls() as cache:
            d["a"] = 2
        assert cache.total == 1, cache.calls  # the incr after commit

    def test_missing_token_reloads_and_is_seeded_large(self, make_dict):
        writer, reader = make_dict(), make_dict(autosync=False)
        writer["a"] = 1
        reader.sync()
        caches[make_dict.cache].delete(reader.token.key)  # evicted, flushed...
        # ... and a write whose bump met the missing key (nothing to incr)
        DurableSetting.objects.using(make_dict.database).filter(
            namespace=make_dict.namespace
        ).update(value="2")
        with queries(make_dict.database) as captured, count_cache_calls() as cache:
            reader.sync()
        assert reader["a"] == 2 and len(captured) == 1
        assert cache.total == 2, cache.calls  # the read that missed, the add
        assert reader.last_synced >= 2**61  # a fresh random token, never 1
        assert reader.token.read() == reader.last_synced
