"""Views for the middleware and context-processor tests."""

import asyncio
import threading

from django.contrib import admin
from django.http import JsonResponse
from django.template import engines
from django.urls import path

from django_durabledict import dicts


def _payload():
    return {
        "flag": dicts["features"].get("flag"),
        "thread": threading.get_ident(),
    }


def sync_view(request):
    return JsonResponse(_payload())


async def async_view(request):
    payload = _payload()
    payload["loop_thread"] = threading.get_ident()
    asyncio.get_running_loop()  # an async view runs on the event loop
    return JsonResponse(payload)


def template_view(request):
    template = engines["django"].from_string(
        "[{{ dicts.features.flag }}|{{ dicts.nope.x }}|{{ dicts.features.missing }}]"
    )
    return JsonResponse({"html": template.render({}, request)})


urlpatterns = [
    path("admin/", admin.site.urls),
    path("sync/", sync_view),
    path("async/", async_view),
    path("template/", template_view),
]
