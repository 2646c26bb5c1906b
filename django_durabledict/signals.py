"""Signals sent when a durable dict reloads, loses its store, or reaches it again.

Connect receivers to count reloads and outages in Prometheus, StatsD or
OpenTelemetry (docs/status.rst has a tested ``prometheus_client`` example). Each
signal's ``sender`` is the dict's backend class (``RedisDict``...); every signal
also passes ``durable`` (the dict) and ``name`` (its ``DURABLEDICTS`` name):

* ``dict_reloaded``: ``token`` (the token the new snapshot was loaded at) and
  ``full`` (True for a reload of the whole dict, False for changed keys only);
* ``dict_unavailable``: ``error`` (the exception) and ``since`` (Unix time), once
  per outage;
* ``dict_recovered``: ``since`` (when the outage began) and ``downtime`` (seconds).

Why a relay rather than sending from ``base.py``: the core must not import Django
(DESIGN.md, "Layers"), so it calls the plain functions in ``base.listeners``, and
the app's ``ready()`` adds :func:`relay`, which turns them into these signals.
This module itself may be imported before settings are configured
(``django.dispatch`` reads no setting), so receivers can be connected anywhere.

Receivers run in the thread that noticed the change: a request's thread, or a
client library's (kazoo's event thread for ZooKeeper). Keep them quick. A receiver
that raises is logged and does not affect the dict (``send_robust``).
"""

from __future__ import annotations

import logging
from typing import Any

from django.dispatch import Signal

from django_durabledict.status import backend_class

logger = logging.getLogger("django_durabledict")

dict_reloaded = Signal()
dict_unavailable = Signal()
dict_recovered = Signal()

SIGNALS = {
    "reloaded": dict_reloaded,
    "unavailable": dict_unavailable,
    "recovered": dict_recovered,
}


def relay(durable: Any, event: str, details: dict[str, Any]) -> None:
    """The ``base.listeners`` entry that sends the signal of *event*."""
    signal = SIGNALS.get(event)
    if signal is None:
        return
    results = signal.send_robust(
        sender=backend_class(durable), durable=durable, name=durable.name, **details
    )
    for receiver, result in results:
        if isinstance(result, Exception):
            logger.error(
                "%s: receiver %r of the %r signal failed: %r",
                durable,
                receiver,
                event,
                result,
                exc_info=result,
            )


def connect() -> None:
    """Start relaying (the app's ``ready()`` calls it; calling it again is a
    no-op)."""
    from django_durabledict import base

    if relay not in base.listeners:
        base.listeners.append(relay)
