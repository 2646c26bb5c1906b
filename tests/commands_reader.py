"""Another OS process that reads a dict in a loop while durabledict_load runs.

Run as ``python -m tests.commands_reader SPEC`` (SPEC: JSON, see ``build``). It
loads the dict through the backend's own load path (``durables()``, what every
reload runs), classifies each snapshot as the old contents, the new contents or a
mix of both, prints ``ready`` after its first read, and stops once it has seen the
new contents a few times (or at the deadline). The last line of its output is the
count of each kind, as JSON.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections import Counter
from typing import Any


def build(spec: dict[str, Any]) -> Any:
    kind = spec["kind"]
    if kind == "model":
        from django_durabledict.backends.model import ModelDict

        return ModelDict(namespace=spec["namespace"], database=spec["database"])
    if kind == "redis":
        import redis

        from django_durabledict.backends.redis import RedisDict

        return RedisDict(spec["keyspace"], redis.Redis.from_url(spec["url"]))
    if kind == "zookeeper":
        from django_durabledict.backends.zookeeper import ZookeeperDict
        from django_durabledict.backends.zookeeper_client import make_client

        client = make_client(spec["hosts"], {})
        client.start(timeout=30)
        return ZookeeperDict(spec["path"], client)
    raise ValueError(kind)


def setup_django(spec: dict[str, Any]) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    import django
    from django.conf import settings

    if spec.get("db_name"):
        # The test database the parent's test runs on, not the normal one.
        settings.DATABASES[spec["database"]]["NAME"] = spec["db_name"]
    django.setup()


def main() -> None:
    spec = json.loads(sys.argv[1])
    setup_django(spec)
    from tests.commands_helpers import states

    old, new = states(spec["count"])
    durable = build(spec)
    seen: Counter[str] = Counter()
    mixed_example = None
    deadline = time.monotonic() + spec.get("timeout", 60)
    while time.monotonic() < deadline and seen["new"] < 3:
        values = durable.durables()
        kind = "old" if values == old else "new" if values == new else "mixed"
        seen[kind] += 1
        if kind == "mixed" and mixed_example is None:
            mixed_example = describe(values, old, new)
        if sum(seen.values()) == 1:
            print("ready", flush=True)
    print(json.dumps({**seen, "mixed_example": mixed_example}), flush=True)


def describe(values: dict[str, Any], old: dict[str, Any], new: dict[str, Any]):
    return {
        "keys": len(values),
        "as_old": sum(1 for k, v in values.items() if old.get(k) == v),
        "as_new": sum(1 for k, v in values.items() if new.get(k) == v),
    }


if __name__ == "__main__":
    main()
