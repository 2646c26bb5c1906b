"""Template context processor: ``{{ dicts.features.new_checkout }}``.

Add ``"django_durabledict.context_processors.durabledicts"`` to the
``context_processors`` of your template engine. It adds the ``dicts`` registry
itself, which does no I/O: a dict is looked up (and built, the first time in a
process) only when a template uses it. An unknown dict name or key renders as an
invalid variable, like any missing key.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from django_durabledict.registry import dicts


def durabledicts(request: HttpRequest) -> dict[str, Any]:
    """``{"dicts": dicts}``."""
    return {"dicts": dicts}
