"""Signal receivers that sync the dicts where the middleware does not run.

``sync_dicts`` accepts any signal's arguments, so it can be connected to Django's
``request_started`` or Celery's ``task_prerun``::

    from celery.signals import task_prerun
    from django_durabledict.receivers import sync_dicts

    task_prerun.connect(sync_dicts)

(The original durabledict's README connected ``sync`` itself to
``request_started``; ``sync()`` takes no arguments, so every request failed.)
"""

from __future__ import annotations

from typing import Any

from django_durabledict.registry import dicts


def sync_dicts(sender: Any = None, **kwargs: Any) -> None:
    """Sync every built dict with autosync off (``dicts.sync_all()``)."""
    dicts.sync_all()
