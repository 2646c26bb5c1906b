"""The floors: a plain dict, and Django's request signals with nothing else."""

from __future__ import annotations

from typing import Any

from benchmarks.systems.base import Reader, System, key_name


class PlainDict(System):
    """A module-level dict: the fastest a read can be."""

    name = "plain-dict"
    label = "plain dict"
    group = "floor"
    hook_text = "none"
    database = None
    cache = None
    signals = False
    cross_process = False
    expected_counts = {"queries": 0, "network": 0}

    def populate(self, size: int) -> None:
        self.size = size

    def open(self) -> Reader:
        self.data = {key_name(i): i for i in range(self.size)}
        return Reader(self.data, registry=({"features": self.data}, "features"))

    def writer(self):
        def write(key: str, value: Any) -> None:
            self.data[key] = value

        return write


class DjangoSignals(System):
    """request_started and request_finished with Django's own receivers: what
    every request pays anyway, whatever holds the settings."""

    name = "django-signals"
    label = "Django request signals alone"
    group = "floor"
    hook_text = "none (no reads)"
    reads = False
    expected_counts = {"queries": 0, "network": 0}

    def open(self) -> Reader:
        return Reader(None, read_kind="none")
