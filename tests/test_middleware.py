"""DurableDictSyncMiddleware under WSGI and ASGI, and its equivalents outside
requests: the sync_dicts receiver (request_started, Celery's task_prerun) and
dicts.sync_all() in a management command."""

import threading
from io import StringIO

import pytest
from asgiref.sync import async_to_sync
from django.core.management import call_command
from django.core.signals import request_started
from django.test import AsyncClient, Client, override_settings

from django_durabledict import dicts
from django_durabledict.middleware import DurableDictSyncMiddleware
from django_durabledict.receivers import sync_dicts
from tests.dictbackends import (
    memory_entry,
    other_process,
    require_module,
    reset_stores,
)

MIDDLEWARE_PATH = "django_durabledict.middleware.DurableDictSyncMiddleware"


@pytest.fixture(autouse=True)
def configured():
    reset_stores()
    with override_settings(
        DURABLEDICTS={
            "features": memory_entry(),
            "live": memory_entry(AUTOSYNC=True),
        },
        MIDDLEWARE=[MIDDLEWARE_PATH],
        ROOT_URLCONF="tests.integration_urls",
    ):
        yield


def test_each_request_sees_changes_made_before_it():
    client = Client()
    assert client.get("/sync/").json()["flag"] is None
    other_process("features")["flag"] = "on"
    assert dicts["features"].get("flag") is None  # autosync off: not yet
    assert client.get("/sync/").json()["flag"] == "on"


def test_one_token_read_per_request_and_none_for_autosync_dicts():
    client = Client()
    client.get("/sync/")
    features, live = dicts["features"], dicts["live"]
    before = features.token_reads, live.token_reads
    for _ in range(3):
        client.get("/sync/")
    assert features.token_reads - before[0] == 3
    assert live.token_reads == before[1]


def test_nothing_to_sync_before_any_dict_is_built():
    response = DurableDictSyncMiddleware(lambda request: "response")(None)
    assert response == "response"
    assert dicts.all(initialized_only=True) == []


async def async_get(path):
    # A coroutine function of our own: AsyncClient.get is not marked async on
    # Django 4.2, and async_to_sync warns about that.
    return await AsyncClient().get(path)


def test_asgi_request_syncs_off_the_event_loop():
    dicts["features"]  # built, so there is something to sync
    other_process("features")["flag"] = "async"
    response = async_to_sync(async_get)("/async/")
    payload = response.json()
    assert payload["flag"] == "async"
    (sync_thread,) = dicts["features"].sync_threads[-1:]
    assert sync_thread != payload["loop_thread"]


def test_asgi_sync_runs_in_the_requests_thread_for_db_connections():
    # thread_sensitive=True: the sync runs in the thread that runs this request's
    # sync code, so a ModelDict reload uses the request's database connection.
    dicts["features"]
    response = async_to_sync(async_get)("/sync/")
    assert dicts["features"].sync_threads[-1] == response.json()["thread"]


def test_middleware_is_async_capable():
    async def get_response(request):
        return "async response"

    middleware = DurableDictSyncMiddleware(get_response)
    assert middleware.sync_capable and middleware.async_capable
    assert async_to_sync(middleware)(None) == "async response"


def test_request_started_receiver_accepts_signal_arguments(settings):
    settings.DEBUG = True  # Django then checks that receivers accept **kwargs
    features = dicts["features"]
    other_process("features")["flag"] = 1
    request_started.connect(sync_dicts)
    try:
        request_started.send(sender=None, environ={})
    finally:
        request_started.disconnect(sync_dicts)
    assert features["flag"] == 1


def test_celery_task_prerun_receiver():
    celery = require_module("celery")
    from celery.signals import task_prerun

    app = celery.Celery("durabledict-tests", set_as_current=False)
    app.conf.task_always_eager = True
    seen = []

    @app.task
    def read_flag():
        seen.append(dicts["features"].get("flag"))

    features = dicts["features"]
    task_prerun.connect(sync_dicts)
    try:
        other_process("features")["flag"] = "first"
        read_flag.delay()
        other_process("features")["flag"] = "second"
        read_flag.apply()
    finally:
        task_prerun.disconnect(sync_dicts)
    assert seen == ["first", "second"]
    assert features.sync_threads[-1] == threading.get_ident()


def test_management_command_syncs_between_iterations():
    features = dicts["features"]
    out = StringIO()

    def change(iteration):
        other_process("features")["flag"] = iteration

    call_command("durabledict_poll_example", iterations=3, stdout=out, hook=change)
    assert out.getvalue().split() == ["0", "1", "2"]
    assert features["flag"] == 2
