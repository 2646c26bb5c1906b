"""The middleware with a real ModelDict: a request when nothing changed costs no
query; the first request after a committed change reloads with one query."""

import pytest
from django.db import connection
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext

from django_durabledict import dicts
from django_durabledict.models import DurableSetting

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(
    params=[
        "default",
        pytest.param("memcached", marks=pytest.mark.services("memcached")),
    ]
)
def client(request):
    with override_settings(
        DURABLEDICTS={"features": {"CACHE": request.param}},
        MIDDLEWARE=["django_durabledict.middleware.DurableDictSyncMiddleware"],
        ROOT_URLCONF="tests.integration_urls",
    ):
        yield Client()


def get_flag(client):
    with CaptureQueriesContext(connection) as queries:
        flag = client.get("/sync/").json()["flag"]
    return flag, len(queries)


def test_queries_per_request(client):
    client.get("/sync/")  # builds (and loads) the dict
    assert get_flag(client) == (None, 0)
    DurableSetting.objects.create(namespace="features", key="flag", value='"on"')
    assert get_flag(client) == ("on", 1)
    assert get_flag(client) == ("on", 0)


def test_a_write_from_code_is_seen_by_the_next_request(client):
    client.get("/sync/")
    dicts["features"]["flag"] = "from code"
    # The write created the namespace, so it replaced no version the dict showed:
    # the dict loaded the changes (and the token) at once, nothing is left to do.
    assert get_flag(client) == ("from code", 0)
    dicts["features"]["flag"] = "again"  # patched in: the token moved since
    assert get_flag(client) == ("again", 1)
