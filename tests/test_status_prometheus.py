"""docs/status/prometheus_metrics.py, the example docs/status.rst shows, run for
real with prometheus_client: counted reloads and outages, scraped ages."""

import importlib.util
import sys
from pathlib import Path

import pytest
from django.test import override_settings

from django_durabledict import dicts
from django_durabledict.backends.memory import MemoryDict, MemoryStore
from django_durabledict.encoding import JSONEncoding
from tests import servers
from tests.dictbackends import memory_entry, require_module, reset_stores

EXAMPLE = Path(__file__).resolve().parent.parent / "docs/status/prometheus_metrics.py"


@pytest.fixture(scope="module")
def metrics():
    """The example, imported once: it registers its metrics in the default
    registry, which refuses a second registration."""
    require_module("prometheus_client")
    name = "durabledict_prometheus_example"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, EXAMPLE)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def sample(name, **labels):
    from prometheus_client import REGISTRY

    return REGISTRY.get_sample_value(name, labels)


def test_reloads_are_counted_per_dict_and_kind(metrics):
    store = MemoryStore()
    durable = MemoryDict(store=store, encoding=JSONEncoding, name="p-reloads")
    assert sample("durabledict_reloads_total", dict="p-reloads", kind="full") == 1
    MemoryDict(store=store, encoding=JSONEncoding)["a"] = 1
    durable.sync()
    durable.sync()
    assert sample("durabledict_reloads_total", dict="p-reloads", kind="full") == 2


@pytest.mark.slow
@pytest.mark.services("redis-server")
def test_an_outage_is_counted_once(metrics):
    from tests.redis_helpers import make_dict, new_keyspace, private_client

    with servers.start_redis() as server:
        client = private_client(server)
        durable = make_dict(client, new_keyspace(), autosync=False, name="p-down")
        server.kill()
        for _ in range(3):
            durable.sync()
        assert sample("durabledict_outages_total", dict="p-down") == 1
        client.close()


@override_settings(DURABLEDICTS={"scraped": memory_entry()})
def test_a_scrape_reports_each_built_dicts_ages(metrics):
    from prometheus_client import generate_latest

    try:
        dicts["scraped"].sync()
        assert sample("durabledict_snapshot_age_seconds", dict="scraped") >= 0
        assert sample("durabledict_sync_age_seconds", dict="scraped") >= 0
        assert sample("durabledict_unavailable", dict="scraped") == 0
        text = generate_latest().decode()
        assert 'durabledict_unavailable{dict="scraped"} 0.0' in text
    finally:
        dicts.close_all()
        reset_stores()
