"""``health``: a read-only JSON view of this process's dicts, for probes.

Off until you route it, and refused (403) unless the caller is a user who may view
``DurableSetting`` rows or presents the token in the ``DURABLEDICT_HEALTH_TOKEN``
setting (``Authorization: Bearer <token>``, or ``?token=<token>`` for load
balancers that cannot send headers). 200 when every configured dict can reach its
store, 503 when any cannot (or cannot be built). The body names each dict's
health, backend class, ages and counts: no value, token or error text (which could
name a host), so nothing in it is secret. See docs/status.rst.
"""

from __future__ import annotations

import hmac
from typing import Any

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from django_durabledict.overview import DictReport, reports

#: The permission that opens the view to a logged-in user.
PERMISSION = "django_durabledict.view_durablesetting"


@never_cache
@require_safe
def health(request: HttpRequest) -> JsonResponse:
    """``{"status": "ok" | "unavailable", "dicts": {name: {...}}}``."""
    if not allowed(request):
        return JsonResponse({"status": "forbidden"}, status=403)
    found = reports(with_store=False)
    healthy = all(report.healthy for report in found)
    body = {
        "status": "ok" if healthy else "unavailable",
        "dicts": {report.name: summary(report) for report in found},
    }
    return JsonResponse(body, status=200 if healthy else 503)


def allowed(request: HttpRequest) -> bool:
    user = getattr(request, "user", None)
    if user is not None and user.has_perm(PERMISSION):
        return True
    expected = getattr(settings, "DURABLEDICT_HEALTH_TOKEN", None)
    if not expected:
        return False
    given = presented_token(request)
    return given is not None and hmac.compare_digest(
        given.encode(), str(expected).encode()
    )


def presented_token(request: HttpRequest) -> str | None:
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and credentials:
        return credentials.strip()
    return request.GET.get("token")


def summary(report: DictReport) -> dict[str, Any]:
    status = report.status
    if status is None:
        return {"health": report.health, "backend": _class_name(report.backend)}
    return {
        "health": status.health,
        "backend": _class_name(report.backend),
        "snapshot_age": status.snapshot_age,
        "sync_age": status.sync_age,
        "stale_for": status.stale_for,
        "full_reloads": status.full_reloads,
        "incremental_reloads": status.incremental_reloads,
        "decode_errors": len(status.decode_errors),
        "push": status.push,
    }


def _class_name(path: str) -> str:
    return path.rpartition(".")[2]
