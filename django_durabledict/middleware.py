"""Sync every dict with ``AUTOSYNC`` off once per request.

With ``AUTOSYNC`` off (the default) reads never touch the store; this middleware
checks each built dict's token once at the start of a request instead (one cache
GET for a ModelDict when nothing changed), so a change made anywhere is seen from
the next request on.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from django.http import HttpRequest, HttpResponseBase

from django_durabledict.registry import dicts


def _needs_sync() -> bool:
    # No I/O: only dicts already built in this process, and their autosync flag.
    return any(not d.autosync for d in dicts.all(initialized_only=True))


class DurableDictSyncMiddleware:
    """Call ``dicts.sync_all()`` before each request; works under WSGI and ASGI.

    Under ASGI the sync runs in a worker thread, so the event loop never waits on
    the store. It runs with ``thread_sensitive=True``: a ModelDict reload queries
    the database, and Django's database connections belong to one thread. Django
    runs each request's thread-sensitive code in that request's own thread, where
    ``close_old_connections`` (on ``request_started``/``request_finished``) also
    runs; the reload thus uses and releases the request's connection. With
    ``thread_sensitive=False`` the query would open a connection in an executor
    thread that nothing ever closes, one per executor thread and database.

    When no built dict has autosync off there is nothing to do and no thread hop.
    """

    sync_capable = True
    async_capable = True

    def __init__(
        self,
        get_response: Callable[[HttpRequest], Any],
    ) -> None:
        self.get_response = get_response
        self.async_mode = iscoroutinefunction(get_response)
        if self.async_mode:
            markcoroutinefunction(self)

    def __call__(
        self, request: HttpRequest
    ) -> HttpResponseBase | Awaitable[HttpResponseBase]:
        if self.async_mode:
            return self.__acall__(request)
        if _needs_sync():
            dicts.sync_all()
        return self.get_response(request)

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        if _needs_sync():
            await sync_to_async(dicts.sync_all, thread_sensitive=True)()
        return await self.get_response(request)
