"""Durable dict metrics for Prometheus: put this in one of your apps (say
``myapp/metrics.py``) and import it from that app's ``AppConfig.ready()``.

Reload and outage counts come from the signals, so nothing runs on reads. The
snapshot ages are read when Prometheus scrapes, from ``status()``, which reads
nothing from the stores.
"""

from prometheus_client import REGISTRY, Counter
from prometheus_client.core import GaugeMetricFamily

from django_durabledict import dicts
from django_durabledict.signals import dict_reloaded, dict_unavailable

RELOADS = Counter(
    "durabledict_reloads",
    "Reloads of a durable dict in this process.",
    ["dict", "kind"],
)
OUTAGES = Counter(
    "durabledict_outages",
    "Times a durable dict's store became unreachable from this process.",
    ["dict"],
)


def count_reload(sender, name, full, **kwargs):
    RELOADS.labels(name, "full" if full else "incremental").inc()


def count_outage(sender, name, **kwargs):
    OUTAGES.labels(name).inc()


dict_reloaded.connect(count_reload)
dict_unavailable.connect(count_outage)


class FreshnessCollector:
    """Per dict built in this process: seconds since its snapshot was loaded and
    since a sync last confirmed it, and 1 while its store is unreachable."""

    def collect(self):
        loaded = GaugeMetricFamily(
            "durabledict_snapshot_age_seconds",
            "Seconds since the snapshot was loaded.",
            labels=["dict"],
        )
        synced = GaugeMetricFamily(
            "durabledict_sync_age_seconds",
            "Seconds since a sync last confirmed the snapshot.",
            labels=["dict"],
        )
        down = GaugeMetricFamily(
            "durabledict_unavailable",
            "1 while the store cannot be reached.",
            labels=["dict"],
        )
        for durable in dicts.all(initialized_only=True):
            status = durable.status()
            if status.snapshot_age is not None:
                loaded.add_metric([status.name], status.snapshot_age)
            if status.sync_age is not None:
                synced.add_metric([status.name], status.sync_age)
            down.add_metric([status.name], 0 if status.healthy else 1)
        yield from (loaded, synced, down)


REGISTRY.register(FreshnessCollector())
