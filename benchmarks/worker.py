"""One worker process: ``python -m benchmarks.worker MODE SYSTEM [OUT]``.

Modes: ``run`` measures SYSTEM and writes its result as JSON to OUT; ``profile``
SYSTEM SIZE OUT writes pyinstrument profiles of it to OUT; ``write``
is the other process of the propagation rounds (reads ``[key, value]`` lines,
writes, answers with its monotonic clock); ``migrate`` creates the tables in the
database named instead of SYSTEM. The run's context comes from the environment
variable DURABLEDICT_BENCH_CONTEXT, set by ``python -m benchmarks``.
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback
from typing import Any

from benchmarks import djangoenv
from benchmarks.systems import by_name

CONTEXT_VARIABLE = "DURABLEDICT_BENCH_CONTEXT"


def context() -> dict[str, Any]:
    return json.loads(os.environ[CONTEXT_VARIABLE])


def migrate(database: str) -> None:
    from django.core.management import call_command

    djangoenv.configure(context(), None, db=database)
    call_command("migrate", run_syncdb=True, verbosity=0)


def write(name: str) -> None:
    system = by_name(name)(context())
    djangoenv.configure(system.context, system)
    writer = system.writer()
    print("ready", flush=True)
    for line in sys.stdin:
        key, value = json.loads(line)
        writer(key, value)
        print(time.monotonic_ns(), flush=True)


def run(name: str, out: str) -> None:
    from benchmarks import scenarios
    from benchmarks.counting import RoundTripCounter

    ctx = context()
    system = by_name(name)(ctx)
    djangoenv.configure(ctx, system)
    counter = RoundTripCounter({int(port): svc for port, svc in ctx["ports"].items()})
    counter.install()
    try:
        result = {
            "hook": system.hook(),
            **scenarios.run(system, ctx["options"], counter),
        }
    except Exception:
        result = {"error": traceback.format_exc()}
    finally:
        system.cleanup()
    with open(out, "w") as file:
        json.dump(result, file)


def profile(name: str, size: str, out: str) -> None:
    from benchmarks.profiling import profile as run_profile

    system = by_name(name)(context())
    djangoenv.configure(system.context, system)
    text = run_profile(system, int(size))
    with open(out, "w") as file:
        file.write(text)


def main(argv: list[str]) -> None:
    mode, name, *rest = argv
    modes = {
        "run": lambda: run(name, rest[0]),
        "write": lambda: write(name),
        "migrate": lambda: migrate(name),
        "profile": lambda: profile(name, *rest),
    }
    modes[mode]()


if __name__ == "__main__":
    main(sys.argv[1:])
