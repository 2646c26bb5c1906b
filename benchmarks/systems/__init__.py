"""Every benchmarked system, in report order. Adding a backend: one line here
and a small System subclass (see systems/base.py and systems/ours.py)."""

from __future__ import annotations

from benchmarks.systems import original, ours, ours_model, peers, plain
from benchmarks.systems.base import System

SYSTEMS: list[type[System]] = [
    plain.PlainDict,
    plain.DjangoSignals,
    *ours_model.MODEL_SYSTEMS,
    *ours_model.PUSH_SYSTEMS,
    ours.OursRedis,
    ours.OursRedisPush,
    ours.OursZookeeper,
    ours.OursMemory,
    original.OriginalModelDict,
    original.OriginalRedisDict,
    peers.Constance,
    peers.ConstanceRedisCache,
    peers.ConstanceRedis,
    peers.WaffleSwitches,
    peers.WaffleSwitchesRedis,
]


def by_name(name: str) -> type[System]:
    for system in SYSTEMS:
        if system.name == name:
            return system
    names = ", ".join(system.name for system in SYSTEMS)
    raise KeyError(f"no benchmarked system {name!r}; known: {names}")
